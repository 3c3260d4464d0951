#!/usr/bin/env python3
"""Workload g: encrypted against plaintext rooms on one collab hub, same generator for both.

    .venv/bin/python bench/loadgen/e2ee_gen.py --url http://127.0.0.1:PORT [--server-pid PID]
        [--quick] [--out FILE] [--deadline-s N]

One asyncio process (websockets client) runs, against the same hub process:

* workload a in a plaintext room, then in an encrypted room: 1 room, 50 clients, 10 of them
  writing 20 updates/s each;
* a small saturation ladder (1 room, 4 clients, all writing; total rate rising step by step;
  a step fails on p99 > 100 ms, a delivery still missing after the drain, or a send rate under
  90 % of the offered one), plaintext then encrypted.

Why this shape: the hub's extra work for an encrypted room is per *publish* (parse the
envelope, verify its Ed25519 signature), not per delivery, so the ladder keeps the fan-out
small (3 receivers per update) and the rate high.

Keeping the generator cheap and identical for both kinds of room:

* Every update is pre-encoded before timing starts: a pycrdt map set of key "<writer>:<seq>"
  whose value carries a marker "~w<writer>s<seq>~" (plaintext rooms: a y-websocket sync-update
  frame), and the same Yjs bytes sealed with collab's own crypto (``seal_update``: AES-GCM +
  Ed25519) into a PUBLISH frame (encrypted rooms). Sealing never happens during a step.
* Receivers never decrypt. An encrypted receiver attributes each ENTRY by (author id, author
  seq) read from the envelope's clear header (the hub reads the same header); a plaintext
  receiver finds the markers in the received frame with one regex scan, which also attributes
  updates the hub has merged into one frame. So the comparison isolates the hub's cost of
  encryption from the generator's.
* Readers in encrypted rooms join as readers (no challenge signature); writers sign it.

Latency = receive time − send time of each (update, receiver) pair, both ``perf_counter`` of
this process. Lost = expected deliveries (updates sent × other clients) that never arrived;
late = arrived after the step's drain window. The hub's CPU (its whole process tree, from /proc)
and this process's CPU are reported per step.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import struct
import sys
import time
import urllib.request
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pycrdt
from websockets.asyncio.client import ClientConnection, connect

from collab.crypto.auth import sign_challenge
from collab.crypto.keys import RoomKeys, b64url_encode, generate_write_secret
from collab.protocol import relay_frames
from collab.protocol.envelope import new_author_id, seal_update

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
P99_LIMIT_MS = 100.0
MARKER = re.compile(rb"~w(\d{4})s(\d{7})~")
# ENTRY frame: type u8 | hub seq u64 | envelope; the envelope header holds
# magic(3) version(1) type(1) room(16) epoch(4) author id(16) author seq u64 ...
ENTRY = relay_frames.FrameType.ENTRY
AUTHOR_AT = 1 + 8 + 3 + 1 + 1 + 16 + 4
SEQ_AT = AUTHOR_AT + 16
_U64 = struct.Struct(">Q")


# ------------------------------------------------------------------ /proc sampling


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(fields[1]), []).append(int(d))
    return kids


def tree_sample(pid: int) -> tuple[float, int] | None:
    """(CPU seconds, RSS bytes) of pid and all its descendants."""
    if not pid:
        return None
    kids = _children()
    todo, cpu, rss = [pid], 0.0, 0
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        cpu += (int(fields[11]) + int(fields[12])) / CLK_TCK
        rss += int(fields[21]) * PAGE
        todo.extend(kids.get(p, []))
    return cpu, rss


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine so far."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / CLK_TCK


class Window:
    """CPU of the server, of this process and of everything else over a stretch of time."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.t0 = time.perf_counter()
        self.s0 = tree_sample(pid)
        self.g0 = time.process_time()
        self.m0 = machine_busy()

    def close(self) -> dict[str, float | None]:
        wall = time.perf_counter() - self.t0
        s1 = tree_sample(self.pid)
        gen = time.process_time() - self.g0
        srv = s1[0] - self.s0[0] if s1 and self.s0 else None
        other = machine_busy() - self.m0 - gen - (srv or 0)
        return {
            "server_cpu_pct": round(100 * srv / wall, 1) if srv is not None else None,
            "server_rss_mb": round(s1[1] / 2**20, 1) if s1 else None,
            "loadgen_cpu_pct": round(100 * gen / wall, 1),
            "other_cpu_pct": round(max(0.0, 100 * other / wall), 1),
        }


def summary(lat: array) -> dict[str, float | int | None]:
    if not lat:
        return {"count": 0}
    s = sorted(lat)
    q = lambda p: round(s[min(len(s) - 1, int(p * len(s)))], 3)  # noqa: E731
    return {"count": len(s), "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": round(s[-1], 3)}


# ------------------------------------------------------------------ pre-encoded updates


def yjs_updates(writer: int, count: int) -> list[bytes]:
    """count small Yjs updates of one writer: map "m", key "<writer>:<seq>", marked value."""
    doc = pycrdt.Doc(client_id=1_000_000 + writer)
    m = doc.get("m", type=pycrdt.Map)
    out: list[bytes] = []
    doc.observe(lambda ev: out.append(ev.update))
    for seq in range(count):
        m[f"{writer}:{seq}"] = f"~w{writer:04d}s{seq:07d}~"
    return out


def varuint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def yws_update_frame(update: bytes) -> bytes:
    return b"\x00\x02" + varuint(len(update)) + update


# ------------------------------------------------------------------ bookkeeping


@dataclass
class Step:
    name: str
    open: bool = True
    delivered: int = 0
    late: int = 0
    lat: array = field(default_factory=lambda: array("d"))


class Ledger:
    def __init__(self, writers: int, cap: int) -> None:
        self.cap = cap
        self.send_time = [array("d", bytes(8 * cap)) for _ in range(writers)]
        self.step_of = [array("i", [-1]) * cap for _ in range(writers)]
        self.sent = [0] * writers
        self.steps: list[Step] = []
        self.duplicates = 0
        self.foreign = 0

    def deliver(self, w: int, seq: int, t: float) -> None:
        if not (0 <= w < len(self.sent)) or not (0 <= seq < self.cap) or self.step_of[w][seq] < 0:
            self.foreign += 1
            return
        st = self.steps[self.step_of[w][seq]]
        if st.open:
            st.delivered += 1
            st.lat.append((t - self.send_time[w][seq]) * 1000)
        else:
            st.late += 1


# ------------------------------------------------------------------ clients


class Client:
    """One websocket client of either kind; receivers attribute, writers send pre-encoded frames."""

    def __init__(self, ledger: Ledger, writer: int, frames: list[bytes] | None) -> None:
        self.ledger = ledger
        self.writer = writer
        self.frames = frames
        self.ws: ClientConnection | None = None
        self.seen: set[int] = set()
        self.acks = 0
        self.task: asyncio.Task[None] | None = None

    def _note(self, w: int, seq: int, t: float) -> None:
        key = (w << 32) | seq
        if key in self.seen:
            self.ledger.duplicates += 1
            return
        self.seen.add(key)
        self.ledger.deliver(w, seq, t)

    async def send_next(self) -> None:
        w = self.writer
        seq = self.ledger.sent[w]
        assert self.frames is not None and self.ws is not None
        led = self.ledger
        led.step_of[w][seq] = len(led.steps) - 1
        led.send_time[w][seq] = time.perf_counter()
        led.sent[w] = seq + 1
        await self.ws.send(self.frames[seq])

    async def close(self) -> None:
        if self.task:
            self.task.cancel()
        if self.ws:
            await self.ws.close()


class PlainClient(Client):
    async def connect(self, url: str, room: str) -> None:
        self.ws = await connect(f"{url}/ws/{room}", compression=None, max_size=None, ping_interval=None)
        await self.ws.send(b"\x00\x00\x01\x00")  # sync step1, empty state vector
        while True:
            msg = await self.ws.recv()
            if isinstance(msg, bytes) and msg[:2] == b"\x00\x01":  # step2: synced
                break
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if isinstance(msg, bytes) and msg[:2] == b"\x00\x02":
                t = time.perf_counter()
                for m in MARKER.finditer(msg):
                    self._note(int(m.group(1)), int(m.group(2)), t)


class SealedClient(Client):
    def __init__(self, ledger: Ledger, writer: int, frames: list[bytes] | None, keys: RoomKeys, authors: dict[bytes, int]) -> None:
        super().__init__(ledger, writer, frames)
        self.keys = keys
        self.authors = authors

    async def connect(self, url: str, room: str) -> None:
        self.ws = await connect(
            f"{url}/ws/{room}", subprotocols=[relay_frames.SUBPROTOCOL], compression=None, max_size=None, ping_interval=None
        )
        challenge = relay_frames.decode(await self.ws.recv())
        assert isinstance(challenge, relay_frames.Challenge), challenge
        if self.writer >= 0:
            hello = relay_frames.hello(relay_frames.ROLE_WRITER, 0, sign_challenge(self.keys, challenge.challenge))
        else:
            hello = relay_frames.hello(relay_frames.ROLE_READER, 0)
        await self.ws.send(hello)
        while True:
            frame = relay_frames.decode(await self.ws.recv())
            if isinstance(frame, relay_frames.Synced):
                break
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        authors, unpack = self.authors, _U64.unpack_from
        async for msg in self.ws:
            if not isinstance(msg, bytes):
                continue
            if msg[0] == ENTRY:
                # attribute by the clear header: (author id, author seq); never decrypted
                w = authors.get(msg[AUTHOR_AT:SEQ_AT], -1)
                self._note(w, unpack(msg, SEQ_AT)[0] - 1, time.perf_counter())
            elif msg[0] == relay_frames.FrameType.ACK:
                self.acks += 1
            elif msg[0] == relay_frames.FrameType.NACK:
                self.ledger.foreign += 1
                ERRORS.append(f"NACK: {relay_frames.decode(msg)}")


ERRORS: list[str] = []


# ------------------------------------------------------------------ one room


class Room:
    """A room of n clients (the first `writers` of them write), plaintext or encrypted."""

    def __init__(self, http: str, kind: str, n: int, writers: int, cap: int) -> None:
        self.http = http
        self.ws_url = "ws" + http[len("http") :]
        self.kind = kind
        self.n = n
        self.ledger = Ledger(writers, cap)
        updates = [yjs_updates(w, cap) for w in range(writers)]
        self.clients: list[Client] = []
        if kind == "plaintext":
            self.room = f"g-plain-{os.urandom(4).hex()}"
            for i in range(n):
                frames = [yws_update_frame(u) for u in updates[i]] if i < writers else None
                self.clients.append(PlainClient(self.ledger, i if i < writers else -1, frames))
        else:
            self.keys = RoomKeys.from_write_secret(generate_write_secret())
            self.room = self.keys.room_id
            authors = {new_author_id(): w for w in range(writers)}
            by_writer = {w: a for a, w in authors.items()}
            for i in range(n):
                frames = None
                if i < writers:
                    # sealed here, before any timing: AES-GCM + Ed25519 per update
                    frames = [
                        relay_frames.publish(seq + 1, seal_update(self.keys, by_writer[i], seq + 1, u))
                        for seq, u in enumerate(updates[i])
                    ]
                self.clients.append(SealedClient(self.ledger, i if i < writers else -1, frames, self.keys, authors))
        self.writers = [c for c in self.clients if c.writer >= 0]

    async def open(self) -> float:
        if self.kind == "encrypted":
            body = json.dumps({"kind": "encrypted", "room": self.room, "write_key": b64url_encode(self.keys.write_public_key)})
            req = urllib.request.Request(f"{self.http}/api/rooms", data=body.encode(), headers={"content-type": "application/json"})
            await asyncio.to_thread(lambda: urllib.request.urlopen(req, timeout=10).read())
        t0 = time.perf_counter()
        await self.clients[0].connect(self.ws_url, self.room)
        sem = asyncio.Semaphore(8)

        async def one(c: Client) -> None:
            async with sem:
                await c.connect(self.ws_url, self.room)

        await asyncio.gather(*(one(c) for c in self.clients[1:]))
        return round(time.perf_counter() - t0, 3)

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)

    async def step(self, name: str, total_rate: float, seconds: float, drain_s: float, pid: int) -> dict:
        led = self.ledger
        led.steps.append(Step(name))
        idx = len(led.steps) - 1
        from_seq = list(led.sent)
        win = Window(pid)
        per_writer = total_rate / len(self.writers)
        phases = [i / len(self.writers) for i in range(len(self.writers))]
        start = time.perf_counter()
        done = [0] * len(self.writers)
        capped = False
        while True:
            el = min(time.perf_counter() - start, seconds)
            for i, c in enumerate(self.writers):
                due = int(el * per_writer + phases[i])
                while done[i] < due:
                    if led.sent[c.writer] >= led.cap:
                        capped = True
                        break
                    await c.send_next()
                    done[i] += 1
            if el >= seconds:
                break
            await asyncio.sleep(0.001)
        send_s = time.perf_counter() - start
        cpu = win.close()
        sent = sum(led.sent[c.writer] - from_seq[c.writer] for c in self.writers)
        expected = sent * (self.n - 1)
        st = led.steps[idx]
        t0 = time.perf_counter()
        while st.delivered < expected and time.perf_counter() - t0 < drain_s:
            await asyncio.sleep(0.01)
        st.open = False
        return {
            "name": name,
            "offered_updates_per_s": round(total_rate, 1),
            "sent": sent,
            "sent_updates_per_s": round(sent / send_s, 1),
            "ran_out_of_pre_encoded_updates": capped,
            "expected_deliveries": expected,
            "delivered": st.delivered,
            "missing_after_drain": expected - st.delivered,
            "latency_ms": summary(st.lat),
            **cpu,
            "_step": idx,
        }

    async def settle(self, steps: list[dict], max_s: float) -> None:
        """Waits for stragglers, then splits each step's missing deliveries into late and lost."""
        led = self.ledger

        def outstanding() -> int:
            return sum(s["missing_after_drain"] - led.steps[s["_step"]].late for s in steps)

        t0 = time.perf_counter()
        while outstanding() > 0 and time.perf_counter() - t0 < max_s:
            await asyncio.sleep(0.02)
        for s in steps:
            s["late"] = led.steps[s.pop("_step")].late
            s["lost"] = s["missing_after_drain"] - s["late"]


# ------------------------------------------------------------------ workloads


async def run_a(http: str, kind: str, quick: bool, pid: int) -> dict:
    warm_s, meas_s = (1.0, 2.0) if quick else (1.5, 8.0)
    rate = 20 * 10
    room = Room(http, kind, 50, 10, cap=int(20 * (warm_s + meas_s) * 1.2) + 20)
    connect_s = await room.open()
    await asyncio.sleep(0.3)
    try:
        warm = await room.step("warmup", rate, warm_s, 2.0, pid)
        meas = await room.step("measure", rate, meas_s, 3.0, pid)
        await room.settle([warm, meas], 3.0 if quick else 5.0)
    finally:
        await room.close()
    return {"kind": kind, "connect_s": connect_s, "duplicates": room.ledger.duplicates, "foreign": room.ledger.foreign, **meas, "warmup": warm}


LADDER_FULL = [250, 1000, 2000, 3000, 4000, 5000, 6500, 9000]
LADDER_QUICK = [250, 1000, 2000, 3000, 4500, 6500, 9000]


async def run_ladder(http: str, kind: str, quick: bool, pid: int) -> dict:
    rates = LADDER_QUICK if quick else LADDER_FULL
    step_s = 1.0 if quick else 2.0
    n = 4
    cap = int(sum(rates) * step_s * 1.15 / n) + int(rates[0] * step_s / n) + 50
    room = Room(http, kind, n, n, cap)
    await room.open()
    await asyncio.sleep(0.3)
    steps: list[dict] = []
    best: dict | None = None
    stop = "ladder exhausted (the hub was not saturated)"
    try:
        warm = await room.step("warmup", rates[0], step_s, 2.0, pid)
        warm["warmup"] = True
        steps.append(warm)
        for r in rates:
            s = await room.step(f"{r}/s", r, step_s, 2.0, pid)
            p99 = s["latency_ms"].get("p99")
            p99 = float("inf") if p99 is None else p99
            s["ok"] = s["missing_after_drain"] == 0 and p99 <= P99_LIMIT_MS and s["sent_updates_per_s"] >= 0.9 * r and not s["ran_out_of_pre_encoded_updates"]
            if not s["ok"]:
                s["why"] = (
                    f"{s['missing_after_drain']} deliveries not there 2 s after the step" if s["missing_after_drain"]
                    else f"p99 {p99} ms > {P99_LIMIT_MS:.0f} ms" if p99 > P99_LIMIT_MS
                    else f"sent only {s['sent_updates_per_s']}/s of {r}/s"
                )
            steps.append(s)
            if not s["ok"]:
                stop = s["why"]
                break
            best = s
            await asyncio.sleep(0.2)
        await room.settle(steps, 5.0)
    finally:
        await room.close()
    failed = next((s for s in steps if not s.get("warmup") and not s.get("ok")), None)
    bottleneck = "none reached"
    if failed:
        parts = []
        if (failed.get("server_cpu_pct") or 0) >= 90:
            parts.append(f"hub CPU {failed['server_cpu_pct']}%")
        if (failed.get("loadgen_cpu_pct") or 0) >= 90:
            parts.append(f"load generator CPU {failed['loadgen_cpu_pct']}% (figure is a lower bound)")
        bottleneck = "; ".join(parts) or f"neither CPU-bound (hub {failed.get('server_cpu_pct')}%, load generator {failed.get('loadgen_cpu_pct')}%)"
    return {
        "kind": kind,
        "clients": n,
        "writers": n,
        "max_sustained_updates_per_s": best["sent_updates_per_s"] if best else 0,
        "p50_ms": best["latency_ms"].get("p50") if best else None,
        "p99_ms": best["latency_ms"].get("p99") if best else None,
        "server_cpu_pct": best["server_cpu_pct"] if best else None,
        "loadgen_cpu_pct": best["loadgen_cpu_pct"] if best else None,
        "stopped_by": stop,
        "bottleneck": bottleneck,
        "duplicates": room.ledger.duplicates,
        "steps": steps,
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None


def ratios(enc: dict, plain: dict, fields: dict[str, Callable[[dict], float | None]]) -> dict[str, float | None]:
    return {name: ratio(fn(enc), fn(plain)) for name, fn in fields.items()}


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="the hub's http://host:port")
    ap.add_argument("--server-pid", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="")
    ap.add_argument("--deadline-s", type=float, default=0)
    a = ap.parse_args()
    t0, c0 = time.perf_counter(), time.process_time()
    out: dict = {"workload": "g", "quick": a.quick, "url": a.url, "proto": "yws + collab-e2ee.v1", "error": None}
    result: dict = {"a": {}, "ladder": {}}

    def write() -> None:
        wall = time.perf_counter() - t0
        steps = [*(result["a"].values()), *(s for r in result["ladder"].values() for s in r.get("steps", []))]
        out.update(
            result=result,
            params={
                "a": {"rooms": 1, "clients": 50, "writers": 10, "rate_per_writer": 20},
                "ladder": {"rooms": 1, "clients": 4, "writers": 4, "rates": LADDER_QUICK if a.quick else LADDER_FULL, "p99_limit_ms": P99_LIMIT_MS},
            },
            other_cpu_pct_max=max([s.get("other_cpu_pct") or 0 for s in steps] or [0]),
            loadgen={"wall_s": round(wall, 2), "cpu_pct": round(100 * (time.process_time() - c0) / wall, 1), "errors": ERRORS[:20]},
        )
        text = json.dumps(out, indent=1)
        if a.out:
            Path(a.out).write_text(text)
        else:
            print(text)

    async def body() -> None:
        # plaintext first in each pair: any warming of the hub favours the encrypted room
        for kind in ("plaintext", "encrypted"):
            result["a"][kind] = await run_a(a.url, kind, a.quick, a.server_pid)
        for kind in ("plaintext", "encrypted"):
            result["ladder"][kind] = await run_ladder(a.url, kind, a.quick, a.server_pid)

    try:
        if a.deadline_s > 0:
            await asyncio.wait_for(body(), a.deadline_s)
        else:
            await body()
    except TimeoutError:
        out["error"] = f"deadline: the workload did not finish within {a.deadline_s:.0f} s"
    except Exception as e:  # noqa: BLE001 - reported in the result, the runner goes on
        import traceback

        out["error"] = traceback.format_exc()[-2000:] or repr(e)
    ea, pa = result["a"].get("encrypted"), result["a"].get("plaintext")
    if ea and pa:
        result["a"]["ratio_encrypted_to_plaintext"] = ratios(ea, pa, {
            "p50": lambda r: r["latency_ms"].get("p50"),
            "p99": lambda r: r["latency_ms"].get("p99"),
            "server_cpu": lambda r: r.get("server_cpu_pct"),
            "loadgen_cpu": lambda r: r.get("loadgen_cpu_pct"),
        })
    el, pl = result["ladder"].get("encrypted"), result["ladder"].get("plaintext")
    if el and pl:
        result["ladder"]["ratio_encrypted_to_plaintext"] = ratios(el, pl, {
            "max_sustained_updates_per_s": lambda r: r.get("max_sustained_updates_per_s"),
            "p99_at_max": lambda r: r.get("p99_ms"),
        })
    write()
    return 1 if out["error"] else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
