"""Inline completions: pause -> first ghost character, minus the model's own time to first token.

A real hub (`collab serve`), a real `collab agent --model openai:stub-model` process, the real
openai SDK against the local stub (fixed time to first token and token rate), an encrypted room,
and Python typists that pause, ask (their presence), and wait for the first character of the reply,
a direct message from the agent to that typist alone. With ``--browser`` one more typist is a Chromium page: its figure is the
page's own, from asking to the first ghost text in the editor (``data-first-ms`` of the widget).

    .venv/bin/python -m bench.inline.run --typists 1 --pauses 40
    .venv/bin/python -m bench.inline.run --typists 10 --pauses 20 --browser
    .venv/bin/python -m bench.inline.run --typists 0 --editors 1 --pauses 40   # through `collab editor`

With ``--editors N``, N more typists are editors on the other end of a real bridge (`collab
editor`, docs/editor-protocol.md): they send an edit and their cursor, the bridge asks after its
pause (fixed here, ``--debounce-ms``), and the figure is from that pause's end (the edit's answer
plus the pause) to the first ``inline`` notification read from the bridge's stdout, as a Neovim or
VS Code plugin reads it.

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
import multiprocessing
import multiprocessing.connection
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
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
STAGES_LINE = re.compile(r"inline (\S{8}) stages: seen ([\d.]+) ready ([\d.]+) token ([\d.]+) published ([\d.]+)")
# The agent logs its stages on its own clock, time.monotonic(): CLOCK_MONOTONIC, the same in every
# process on Linux, so they line up with the typists' own time.monotonic() stamps here.
TOKENS = ["total", " =", " sum", "(x", " for", " x", " in", " items", ")"]


def _serve_stub(ttft_s: float, conn: multiprocessing.connection.Connection) -> None:
    """The model, in a process of its own: the stub's server thread must not share a GIL with the
    typists (in-process, its ten streams' threads put 50-200 ms into the Python typists' p99)."""
    stub = OpenAIStubServer(default=Reply(tokens=TOKENS, delay=ttft_s)).start()
    conn.send(stub.base_url)
    try:
        while (ask := conn.recv()) != "stop":
            assert ask == "requests"
            conn.send([r.disconnected for r in stub.requests])
    finally:
        stub.stop()


class StubProcess:
    """The stub model server in a child process; ``requests()``: each call so far, closed early or not."""

    def __init__(self, ttft_s: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_stub, args=(ttft_s, child), daemon=True)
        self._proc.start()
        self.base_url: str = self._conn.recv()

    def requests(self) -> list[bool]:
        self._conn.send("requests")
        answer: list[bool] = self._conn.recv()
        return answer

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send("stop")
        self._proc.join(10)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


async def reply_when(me: InlineTypist, key: str) -> dict[str, Any]:
    """The reply to our request once ``key`` is set in it: woken by each reply, no polling."""
    seen = asyncio.Event()
    unsubscribe = me.observe(lambda: seen.set() if (me.reply() or {}).get(key) else None)
    try:
        if not (me.reply() or {}).get(key):
            await asyncio.wait_for(seen.wait(), 60)
    finally:
        unsubscribe()
    return me.reply() or {}


async def python_typist(i: int, session: Session, pauses: int, out: dict[str, float],
                        outcomes: dict[str, int], spans: dict[str, tuple[float, float]]) -> None:
    rng = random.Random(i)
    me = InlineTypist(session.awareness, session.provider.on_direct)
    path = f"f{i}.py"
    for _ in range(pauses):
        await asyncio.sleep(rng.uniform(0.3, 1.2))  # typing, then a pause
        text = session.workspace.read(path)
        started = time.monotonic()
        rid = me.ask(text, path, len(text))
        await reply_when(me, "text")
        now = time.monotonic()
        out[rid] = (now - started) * 1000
        spans[rid] = (started, now)
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


class TimedBridge:
    """`collab editor` on stdio, each notification stamped with when it was read (time.monotonic)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.next_id = 0
        self.waiting: dict[int, asyncio.Future[Any]] = {}
        self.inline: list[tuple[float, dict[str, Any]]] = []
        self.arrived = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        from collab.editor.rpc import read_frame

        assert self.proc.stdout is not None
        while True:
            body = await read_frame(self.proc.stdout)
            if not isinstance(body, bytes):
                return
            now = time.monotonic()
            message = json.loads(body)
            if message.get("method") in ("inline", "inline_clear"):
                self.inline.append((now, message))
                self.arrived.set()
            elif "id" in message and message["id"] in self.waiting:
                self.waiting.pop(message["id"]).set_result(message)

    async def call(self, method: str, **params: Any) -> Any:
        from collab.editor.rpc import encode

        assert self.proc.stdin is not None
        self.next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = future
        self.proc.stdin.write(encode({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}))
        answer = await asyncio.wait_for(future, 60)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']['message']}")
        return answer["result"]

    async def until(self, check: Any) -> tuple[float, dict[str, Any]]:
        """The first inline notification (from now on) that ``check`` accepts."""
        seen = len(self.inline)
        while True:
            for stamp, message in self.inline[seen:]:
                if check(message):
                    return stamp, message
            seen = len(self.inline)
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 60)


def end_position(text: str) -> dict[str, int]:
    lines = text.split("\n")
    return {"line": len(lines) - 1, "character": len(lines[-1].encode("utf-16-le")) // 2}


async def editor_typist(i: int, link: str, pauses: int, debounce_ms: float, out: dict[str, float],
                        outcomes: dict[str, int], spans: dict[str, tuple[float, float]], rpc: list[float]) -> None:
    rng = random.Random(1000 + i)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "collab.cli", "editor", "--name", f"e{i}",
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    b = TimedBridge(proc)
    path = f"e{i}.py"
    try:
        await b.call("join", link=link)
        await b.call("inline_enable", enabled=True, debounce_ms=debounce_ms)
        for _ in range(pauses):
            await asyncio.sleep(rng.uniform(0.3, 1.2))
            opened = await b.call("open", path=path)  # afresh each pause: revision 0, no bookkeeping here
            text, at = opened["text"], end_position(opened["text"])
            started = time.monotonic()
            await b.call("edit", path=path, revision=0, changes=[{"range": {"start": at, "end": at}, "text": "v"}])
            # The bridge starts its pause while handling the edit, before it answers: count from the answer
            # (what the edit's trip to the bridge costs is typing, not the completion; under-counts by
            # the answer's own trip back, ~1 ms).
            answered = time.monotonic()
            rpc.append((answered - started) * 1000)
            at = end_position(text + "v")
            await b.call("cursor", path=path, revision=0, ranges=[{"start": at, "end": at}])
            stamp, first = await b.until(lambda m: m["method"] == "inline" and m["params"]["text"])
            rid = first["params"]["id"]
            out[rid] = (stamp - answered) * 1000 - debounce_ms
            spans[rid] = (answered + debounce_ms / 1000, stamp)
            if rng.random() < 0.25:  # typed over: a mismatching key withdraws it (and asks nothing new)
                await b.call("edit", path=path, revision=0, typing=False,
                             changes=[{"range": {"start": at, "end": at}, "text": "#"}])
                outcomes["typed_over"] += 1
                continue
            if not first["params"]["done"]:
                await b.until(lambda m: m["params"]["id"] == rid and (m["method"] == "inline_clear" or m["params"]["done"]))
            await b.call("inline_accept", id=rid)
            outcomes["accepted"] += 1
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(proc.wait(), 15)
        if proc.returncode is None:
            proc.kill()
        b.reader.cancel()


async def sdk_baseline(stub: StubProcess, calls: int) -> dict[str, float] | None:
    """The openai SDK straight at the stub, no collab: its time to first token on this machine now.
    What the agent-measured TTFT adds to the stub's nominal one is this client's and server's cost."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=stub.base_url, api_key="sk-bench")
    times: list[float] = []
    try:
        for _ in range(calls):
            started = time.monotonic()
            stream = await client.chat.completions.create(model="stub-model", stream=True,
                                                          messages=[{"role": "user", "content": "x = "}])
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    times.append((time.monotonic() - started) * 1000)
                    break
            await stream.close()
    finally:
        await client.close()
    return summary(times)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    stub = StubProcess(args.ttft_ms / 1000)
    data = Path(tempfile.mkdtemp(prefix="bench-inline-"))
    hub = HubProcess(data).start()
    env = {**os.environ, "OPENAI_BASE_URL": stub.base_url, "OPENAI_API_KEY": "sk-bench"}
    agent: subprocess.Popen[str] | None = None
    latencies: dict[str, dict[str, float]] = {"python": {}, "browser": {}, "editor": {}}
    spans: dict[str, dict[str, tuple[float, float]]] = {"python": {}, "editor": {}}
    edit_rpc: list[float] = []
    agent_lines: list[str] = []
    agent_log = data / "agent.log"
    outcomes = {"accepted": 0, "typed_over": 0}
    baseline = await sdk_baseline(stub, args.baseline) if args.baseline else None
    baseline_calls = len(stub.requests())
    try:
        link = write_link(hub.url, create_encrypted_room(hub.url))
        # At debug level the agent logs each inline call's time to first token as it saw it (SDK and
        # HTTP included): what the model cost, to subtract. Never the text.
        # Its log goes to a file, read once it is done: a thread reading it here would share the GIL.
        with agent_log.open("w") as log_file:
            agent = subprocess.Popen([sys.executable, "-m", "collab.cli", "agent", link, "--model", "openai:stub-model",
                                      "--log-level", "debug"], env=env, text=True, stderr=log_file)
        async with contextlib.AsyncExitStack() as stack:
            sessions = [await stack.enter_async_context(Session.connect(link, name=f"t{i}")) for i in range(args.typists)]
            admin = await stack.enter_async_context(Session.connect(link, name="files"))
            for i, s in enumerate(sessions):
                s.workspace.write(f"f{i}.py", f"def f{i}(items):\n    ")
            for i in range(args.editors):
                admin.workspace.write(f"e{i}.py", f"def e{i}(items):\n    ")
            admin.workspace.write("b.py", "def g(items):\n    ")
            await admin.wait_idle()
            while not any(isinstance(st, dict) and st.get("agent") for st in admin.awareness.states.values()):
                await asyncio.sleep(0.05)
            ready = asyncio.Event()
            jobs: list[asyncio.Task[None]] = []
            if args.browser:  # the page first: the Python typists start once it is in the room
                jobs.append(asyncio.create_task(browser_typist(hub, link, args.pauses, latencies["browser"], outcomes, ready)))
                await asyncio.wait([jobs[0], asyncio.create_task(ready.wait())], return_when=asyncio.FIRST_COMPLETED)
                if jobs[0].done():
                    jobs[0].result()  # it failed before it was ready: say why
            jobs += [asyncio.create_task(python_typist(i, s, args.pauses, latencies["python"], outcomes, spans["python"]))
                     for i, s in enumerate(sessions)]
            jobs += [asyncio.create_task(editor_typist(i, link, args.pauses, args.debounce_ms, latencies["editor"],
                                                       outcomes, spans["editor"], edit_rpc))
                     for i in range(args.editors)]
            await asyncio.gather(*jobs)
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(20)
        hub.stop()
        requests = stub.requests()
        stub.stop()
    agent_lines = agent_log.read_text().splitlines() if agent_log.exists() else []
    calls = len(requests) - baseline_calls
    closed_early = sum(1 for disconnected in requests[baseline_calls:] if disconnected)
    report: dict[str, Any] = {"typists": args.typists, "editors": args.editors, "browser": args.browser,
                              "pauses_each": args.pauses,
                              "stub_ttft_ms": args.ttft_ms, "model_calls": calls, **outcomes,
                              "cancellation_rate": round(closed_early / calls, 3) if calls else None,
                              "calls_per_accepted": round(calls / outcomes["accepted"], 3) if outcomes["accepted"] else None,
                              "sdk_direct_ttft_ms": baseline, "editor_edit_round_trip_ms": summary(edit_rpc)}
    model_ttft = {m.group(1): float(m.group(2)) for m in map(TTFT_LINE.search, agent_lines) if m}
    for kind, by_id in latencies.items():
        if not by_id:
            continue
        nominal = [ms - args.ttft_ms for ms in by_id.values()]
        measured = [ms - model_ttft[rid[:8]] for rid, ms in by_id.items() if rid[:8] in model_ttft]
        report[f"{kind}_pause_to_first_char_ms"] = summary(list(by_id.values()))
        report[f"{kind}_overhead_vs_stub_ttft_ms"] = summary(nominal)
        report[f"{kind}_overhead_vs_agent_measured_ttft_ms"] = summary(measured)
    stages = {m.group(1): [float(x) for x in m.groups()[1:]] for m in map(STAGES_LINE.search, agent_lines) if m}
    for kind, by_id in spans.items():
        rows = [(start, *stages[rid[:8]], end) for rid, (start, end) in by_id.items() if rid[:8] in stages]
        if rows:
            report[f"{kind}_stages_ms"] = breakdown(rows)
    return report


def breakdown(rows: list[tuple[float, ...]]) -> dict[str, Any]:
    """Where the time from the request to the first character at the typist went, stage by stage
    (each row: asked, seen by the agent, prompt ready, first token, published, at the typist)."""
    names = ["to_agent", "prompt", "model_first_token", "to_publish", "to_typist"]
    out: dict[str, Any] = {}
    for k, name in enumerate(names):
        out[name] = summary([(row[k + 1] - row[k]) * 1000 for row in rows])
    out["all_but_the_model"] = summary([((row[5] - row[0]) - (row[3] - row[2])) * 1000 for row in rows])
    return out


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
    parser.add_argument("--editors", type=int, default=0, help="more typists, each an editor through `collab editor`")
    parser.add_argument("--debounce-ms", type=float, default=300.0, help="the editors' bridges' pause (fixed here)")
    parser.add_argument("--baseline", type=int, default=20, help="direct SDK calls to the stub first (0: none)")
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
