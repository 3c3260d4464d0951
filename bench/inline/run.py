"""Inline completions: pause -> first ghost character, minus the model's own time to first token.

A real hub (`collab serve`), a real `collab agent --model openai:stub-model` process, the real
openai SDK against the local stub (fixed time to first token and token rate), an encrypted room,
and Python typists that pause, ask (their presence), and wait for the first character of the reply
in the agent's presence. With ``--browser`` one more typist is a Chromium page: its figure is the
page's own, from asking to the first ghost text in the editor (``data-first-ms`` of the widget).

    .venv/bin/python -m bench.inline.run --typists 1 --pauses 40
    .venv/bin/python -m bench.inline.run --typists 10 --pauses 20 --browser

Each pause ends one of three ways, as a person at the keyboard does: accepted once done (Tab),
typed through (the next characters match, then Tab: same request), or typed over (a mismatching
key: the request is withdrawn and the model's stream closed). The report gives p50/p99 of the
overhead, the cancellation rate (streams closed early / model calls, from the stub) and model
calls per accepted completion. Not a timed test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from collab.ai.inline_client import InlineTypist
from collab.client.session import Session
from collab.commands.new import create_encrypted_room
from collab.crypto.links import write_link
from tests.support.hub_process import HubProcess
from tests.support.openai_stub_server import OpenAIStubServer, Reply

TTFT_LINE = re.compile(r"inline (\S{8}): \w+, ttft ([\d.]+) ms")
TOKENS = ["total", " =", " sum", "(x", " for", " x", " in", " items", ")"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


async def reply_when(me: InlineTypist, key: str) -> dict[str, Any]:
    """The reply to our request once ``key`` is set in it: woken by presence changes, no polling."""
    seen = asyncio.Event()
    sub = me.awareness.observe(lambda *_: seen.set() if (me.reply() or {}).get(key) else None)
    try:
        if not (me.reply() or {}).get(key):
            await asyncio.wait_for(seen.wait(), 60)
    finally:
        me.awareness.unobserve(sub)
    return me.reply() or {}


async def python_typist(i: int, session: Session, pauses: int, out: dict[str, float],
                        outcomes: dict[str, int]) -> None:
    rng = random.Random(i)
    me = InlineTypist(session.awareness)
    path = f"f{i}.py"
    for _ in range(pauses):
        await asyncio.sleep(rng.uniform(0.3, 1.2))  # typing, then a pause
        text = session.workspace.read(path)
        started = time.perf_counter()
        rid = me.ask(text, path, len(text))
        await reply_when(me, "text")
        out[rid] = (time.perf_counter() - started) * 1000
        roll = rng.random()
        if roll < 0.25:
            me.clear()  # typed over: withdrawn mid-stream
            outcomes["typed_over"] += 1
            continue
        reply = await reply_when(me, "done")
        me.clear()
        session.workspace.write(path, text + str(reply.get("text", "")) + "\n")  # Tab: accepted
        outcomes["accepted"] += 1


async def browser_typist(hub: HubProcess, link: str, pauses: int, out: dict[str, float],
                         outcomes: dict[str, int], ready: asyncio.Event) -> None:
    from playwright.async_api import expect

    from tests.web.browser import chromium, editor, file_button, join, new_page

    async with chromium() as browser:
        page = await new_page(browser, hub.url)
        await join(page, link, "Bench")
        await expect(page.locator(".cm-inline-status")).to_contain_text("by ai", timeout=60_000)
        await file_button(page, "b.py").click()
        await editor(page).click()  # type: ignore[no-untyped-call]
        await page.keyboard.press("Control+End")
        ready.set()
        ghost = page.locator(".cm-inline-completion")
        for n in range(pauses):
            await page.keyboard.type(f"\nvalue_{n} = ", delay=30)
            await expect(ghost).to_have_attribute("data-first-ms", re.compile(r"."), timeout=30_000)
            out[str(await ghost.get_attribute("data-inline-id"))] = float(await ghost.get_attribute("data-first-ms") or "nan")
            await expect(ghost).to_have_attribute("data-done", "true", timeout=30_000)
            await page.keyboard.press("Tab")
            outcomes["accepted"] += 1


async def main(args: argparse.Namespace) -> dict[str, Any]:
    stub = OpenAIStubServer(default=Reply(tokens=TOKENS, delay=args.ttft_ms / 1000)).start()
    data = Path(tempfile.mkdtemp(prefix="bench-inline-"))
    hub = HubProcess(data).start()
    env = {**os.environ, "OPENAI_BASE_URL": stub.base_url, "OPENAI_API_KEY": "sk-bench"}
    agent: subprocess.Popen[str] | None = None
    latencies: dict[str, dict[str, float]] = {"python": {}, "browser": {}}
    agent_lines: list[str] = []
    outcomes = {"accepted": 0, "typed_over": 0}
    try:
        link = write_link(hub.url, create_encrypted_room(hub.url))
        # At debug level the agent logs each inline call's time to first token as it saw it (SDK and
        # HTTP included): what the model cost, to subtract. Never the text.
        agent = subprocess.Popen([sys.executable, "-m", "collab.cli", "agent", link, "--model", "openai:stub-model",
                                  "--log-level", "debug"], env=env, text=True, stderr=subprocess.PIPE)
        threading.Thread(target=lambda: agent_lines.extend(agent.stderr or ()), daemon=True).start()
        async with contextlib.AsyncExitStack() as stack:
            sessions = [await stack.enter_async_context(Session.connect(link, name=f"t{i}")) for i in range(args.typists)]
            for i, s in enumerate(sessions):
                s.workspace.write(f"f{i}.py", f"def f{i}(items):\n    ")
            sessions[0].workspace.write("b.py", "def g(items):\n    ")
            while not any(isinstance(st, dict) and st.get("agent") for st in sessions[0].awareness.states.values()):
                await asyncio.sleep(0.05)
            ready = asyncio.Event()
            jobs: list[asyncio.Task[None]] = []
            if args.browser:  # the page first: the Python typists start once it is in the room
                jobs.append(asyncio.create_task(browser_typist(hub, link, args.pauses, latencies["browser"], outcomes, ready)))
                await asyncio.wait([jobs[0], asyncio.create_task(ready.wait())], return_when=asyncio.FIRST_COMPLETED)
                if jobs[0].done():
                    jobs[0].result()  # it failed before it was ready: say why
            jobs += [asyncio.create_task(python_typist(i, s, args.pauses, latencies["python"], outcomes))
                     for i, s in enumerate(sessions)]
            await asyncio.gather(*jobs)
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(20)
        hub.stop()
        stub.stop()
    calls = len(stub.requests)
    closed_early = sum(1 for r in stub.requests if r.disconnected)
    report: dict[str, Any] = {"typists": args.typists, "browser": args.browser, "pauses_each": args.pauses,
                              "stub_ttft_ms": args.ttft_ms, "model_calls": calls, **outcomes,
                              "cancellation_rate": round(closed_early / calls, 3) if calls else None,
                              "calls_per_accepted": round(calls / outcomes["accepted"], 3) if outcomes["accepted"] else None}
    model_ttft = {m.group(1): float(m.group(2)) for m in map(TTFT_LINE.search, agent_lines) if m}
    for kind, by_id in latencies.items():
        if not by_id:
            continue
        nominal = [ms - args.ttft_ms for ms in by_id.values()]
        measured = [ms - model_ttft[rid[:8]] for rid, ms in by_id.items() if rid[:8] in model_ttft]
        report[f"{kind}_pause_to_first_char_ms"] = summary(list(by_id.values()))
        report[f"{kind}_overhead_vs_stub_ttft_ms"] = summary(nominal)
        report[f"{kind}_overhead_vs_agent_measured_ttft_ms"] = summary(measured)
    return report


def summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"n": len(values), "p50": round(statistics.median(values), 1), "p99": round(percentile(values, 99), 1),
            "max": round(max(values), 1)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--typists", type=int, default=1, help="Python typists (default 1)")
    parser.add_argument("--pauses", type=int, default=30, help="pauses per typist (default 30)")
    parser.add_argument("--ttft-ms", type=float, default=50.0, help="the stub's time to first token and per token")
    parser.add_argument("--browser", action="store_true", help="one more typist: a Chromium page (Playwright)")
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
