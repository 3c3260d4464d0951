"""Direct messages in encrypted rooms (docs/protocol.md, "Direct messages"): DIRECT from a member,
relayed blind as DIRECT_RELAY to the one connection it is addressed to, byte for byte, checked
like presence, paced and coalesced per (sender, addressee) pair.

The clients speak raw collab-e2ee.v1 frames; the hub runs with debug logging (tests/e2ee/conftest)
so a plaintext that reached its logs would show.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path


from collab.protocol import relay_frames as frames
from collab.protocol.envelope import new_author_id, open_envelope, seal_awareness, seal_update
from tests.e2ee.direct_members import member
from tests.e2ee.support import data_bytes, new_room
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually

RATE = 10  # the hub's default --presence-updates-per-second


async def test_only_the_addressee_receives_it_byte_for_byte(hub: HubProcess) -> None:
    keys = new_room(hub)
    async with member(hub, keys, keys.read_only()) as agent, member(hub, keys) as ann, member(hub, keys) as bob:
        envelope = agent.seal("MAGICPLAINTEXT for ann")
        await agent.send(ann.conn_id, envelope)
        for_bob = agent.seal("for bob")
        await agent.send(bob.conn_id, for_bob)
        await eventually(lambda: ann.direct and bob.direct, 10, what="both messages")
        await asyncio.sleep(0.3)
        # A reader may send them; the hub relays the envelope as it came, from the sender's conn id.
        assert [(sender, env) for sender, env, _ in ann.direct] == [(agent.conn_id, envelope)]
        assert json.loads(open_envelope(keys, ann.direct[0][1]).plaintext)["inline_reply"]["text"] == "MAGICPLAINTEXT for ann"
        # Bob's first direct message is his own: ann's, relayed before it, never reached him.
        assert [(sender, env) for sender, env, _ in bob.direct] == [(agent.conn_id, for_bob)]
        assert agent.direct == [] and agent.nacks == []
    assert "MAGICPLAINTEXT" not in hub.log()
    assert envelope not in data_bytes(hub.data)  # relayed, never stored


async def test_an_unknown_addressee_is_dropped_without_an_error(hub: HubProcess) -> None:
    keys = new_room(hub)
    async with member(hub, keys) as agent, member(hub, keys) as ann:
        await agent.send(12345, agent.seal("to nobody"))
        envelope = agent.seal("to ann")
        await agent.send(ann.conn_id, envelope)
        await eventually(lambda: ann.direct, 10, what="ann's message")
        assert ann.envelopes() == [envelope]
        assert agent.nacks == []


async def test_an_oversized_or_bad_envelope_is_refused_with_nack_3(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data", "--max-presence-bytes", "4096").start()
    try:
        keys, other_room = new_room(hub), new_room(hub)
        async with member(hub, keys) as agent, member(hub, keys) as ann:
            bad = [
                agent.seal("big", pad=5000),
                seal_update(keys, new_author_id(), 1, b"an update, not presence"),
                seal_awareness(other_room.read_only(), new_author_id(), 1, b"{}"),
                b"\x01junk",
            ]
            for envelope in bad:
                await agent.send(ann.conn_id, envelope)
            small = agent.seal("small")
            await agent.send(ann.conn_id, small)
            await eventually(lambda: ann.direct, 10, what="the small message")
            await eventually(lambda: len(agent.nacks) == len(bad), 10, what="a NACK for each bad one")
            await asyncio.sleep(0.3)
            assert ann.envelopes() == [small]  # the connection stays usable
            assert {(n.client_ref, n.code) for n in agent.nacks} == {(0, frames.NackCode.INVALID_ENVELOPE)}
            assert "over the 4096-byte limit" in agent.nacks[0].reason
    finally:
        hub.stop()


async def test_a_burst_is_paced_per_pair_and_the_latest_arrives(hub: HubProcess) -> None:
    keys = new_room(hub)
    async with member(hub, keys) as agent, member(hub, keys) as ann, member(hub, keys) as bob:
        burst = [agent.seal("x" * n) for n in range(1, 51)]
        start = time.monotonic()
        bob_sent = 0.0
        for_bob: list[bytes] = []
        for n, envelope in enumerate(burst, 1):  # 50 over a second: a token stream to ann
            await agent.send(ann.conn_id, envelope)
            if n == 15:  # ann's bucket is empty by now; bob's stream has a budget of its own
                bob_sent = time.monotonic()
                for m in range(1, 9):
                    for_bob.append(agent.seal(f"bob {m}"))
                    await agent.send(bob.conn_id, for_bob[-1])
            await asyncio.sleep(0.02)
        await eventually(lambda: ann.direct and ann.direct[-1][1] == burst[-1], 10, what="the burst's last message")
        await asyncio.sleep(0.5)
        elapsed = ann.direct[-1][2] - start
        print(f"50 direct envelopes to one addressee: {len(ann.direct)} relayed in {elapsed:.2f} s")
        assert ann.envelopes()[-1] == burst[-1]  # the latest always goes out
        assert len(ann.direct) <= RATE + RATE * elapsed + 2, (len(ann.direct), elapsed)
        assert len(ann.direct) < 40
        assert ann.envelopes() == [env for env in burst if env in ann.envelopes()]  # in order
        assert bob.envelopes() == for_bob
        bob_latency = bob.direct[-1][2] - bob_sent
        print(f"bob's 8, sent during ann's burst, done after {bob_latency * 1000:.0f} ms")
        assert bob_latency < 0.4, bob_latency
