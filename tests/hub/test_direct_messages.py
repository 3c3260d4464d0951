"""Direct messages in plaintext rooms (docs/protocol.md, "Direct messages"): message type 100,
relayed by a real hub to the one connection that speaks for the addressee, from the sender's
first client id, paced per (sender, addressee) pair and coalesced.

The clients speak raw y-websocket frames, as the agent and the page do on the wire.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from collab.protocol import relay, yjs
from tests.hub.direct_clients import peer, reply
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually

RATE = 10  # the hub's default --presence-updates-per-second


def test_the_wire_formats() -> None:
    # y-websocket framing: varUint 100, varUint peer, varUint8Array payload.
    frame = yjs.direct_message(300, b'{"a":1}')
    assert frame == b"\x64" + b"\xac\x02" + b"\x07" + b'{"a":1}'
    assert yjs.parse_message(frame) == yjs.DirectMessage(300, b'{"a":1}')
    with pytest.raises(yjs.ProtocolError):
        yjs.parse_message(frame + b"x")
    # Between hubs: the relay header's u64 is the addressee, the payload the sender then the body.
    message = relay.decode_relay(relay.encode_direct(b"h" * 16, 21, 11, b"{}"))
    assert (message.kind, message.hub_id, message.seq) == (relay.DIRECT, b"h" * 16, 21)
    assert relay.split_direct(message.payload) == (11, b"{}")
    with pytest.raises(ValueError):
        relay.split_direct(b"\x00" * 7)


async def test_only_the_addressee_receives_it_from_the_senders_first_client_id(hub: HubProcess) -> None:
    url = f"{hub.ws_url}/ws/direct-basic"
    async with peer(url) as agent, peer(url) as ann, peer(url) as bob:
        await agent.announce(11, 12)
        await ann.announce(21)
        await bob.announce(31)
        await asyncio.sleep(0.2)  # presence reaches the hub before the direct messages
        await agent.send(21, reply("for ann"))
        await agent.send(31, reply("for bob"))
        await eventually(lambda: ann.got and bob.got, 10, what="both replies")
        await asyncio.sleep(0.3)
        assert [(sender, payload) for sender, payload, _ in ann.got] == [(11, reply("for ann"))]
        # Bob's first direct message is his own: ann's, relayed before it, never reached him.
        assert [(sender, payload) for sender, payload, _ in bob.got] == [(11, reply("for bob"))]
        assert agent.got == []


async def test_a_sender_without_presence_is_dropped(hub: HubProcess) -> None:
    url = f"{hub.ws_url}/ws/direct-anonymous"
    async with peer(url) as stranger, peer(url) as ann:
        await ann.announce(21)
        await asyncio.sleep(0.2)
        await stranger.send(21, reply("who am I"))
        await stranger.announce(5)
        await stranger.send(21, reply("now you know"))
        await eventually(lambda: ann.got, 10, what="the second message")
        await asyncio.sleep(0.3)
        assert [(sender, payload) for sender, payload, _ in ann.got] == [(5, reply("now you know"))]


async def test_an_unknown_addressee_is_dropped_silently(hub: HubProcess) -> None:
    url = f"{hub.ws_url}/ws/direct-nobody"
    async with peer(url) as agent, peer(url) as ann:
        await agent.announce(11)
        await ann.announce(21)
        await asyncio.sleep(0.2)
        await agent.send(999, reply("to nobody"))
        await agent.send(21, reply("to ann"))
        await eventually(lambda: ann.got, 10, what="ann's message")
        assert ann.payloads() == [reply("to ann")]
        assert not agent.closed.done()


async def test_an_oversized_message_is_dropped_and_the_connection_stays_usable(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data", "--max-presence-bytes", "4096").start()
    try:
        url = f"{hub.ws_url}/ws/direct-big"
        async with peer(url) as agent, peer(url) as ann:
            await agent.announce(11)
            await ann.announce(21)
            await asyncio.sleep(0.2)
            secret = "SECRETPAD" * 500  # 4,500 bytes
            await agent.send(21, reply(secret))
            await agent.send(21, reply(secret + "again"))
            await agent.send(21, reply("small"))
            await eventually(lambda: ann.got, 10, what="the small message")
            await asyncio.sleep(0.3)
            assert ann.payloads() == [reply("small")]
            assert not agent.closed.done()
        log = hub.log()
        assert log.count("over the 4,096-byte limit") == 1, log  # once per connection
        assert "SECRETPAD" not in log
    finally:
        hub.stop()


async def test_a_malformed_message_closes_the_sender_with_1002(hub: HubProcess) -> None:
    url = f"{hub.ws_url}/ws/direct-malformed"
    async with peer(url) as ann:
        await ann.announce(21)
        for bad in (b"{not json", b"[1, 2]", b"\xff\xfe", b"[" * 1000 + b"]" * 1000):
            async with peer(url) as evil:
                await evil.announce(11)
                await evil.send(21, bad)
                assert await asyncio.wait_for(evil.closed, 10) == 1002, bad[:20]
        # The room is fine: a good one still goes through.
        async with peer(url) as agent:
            await agent.announce(12)
            await asyncio.sleep(0.2)
            await agent.send(21, reply("fine"))
            await eventually(lambda: ann.got, 10, what="the good message")
        assert ann.payloads() == [reply("fine")]


async def test_a_burst_is_paced_per_pair_and_the_latest_arrives(hub: HubProcess) -> None:
    url = f"{hub.ws_url}/ws/direct-pacing"
    async with peer(url) as agent, peer(url) as ann, peer(url) as bob:
        await agent.announce(11)
        await ann.announce(21)
        await bob.announce(31)
        await asyncio.sleep(0.3)
        burst = [reply("x" * n) for n in range(1, 51)]
        start = time.monotonic()
        bob_sent = 0.0
        for n, payload in enumerate(burst, 1):  # 50 over a second: a token stream to ann
            await agent.send(21, payload)
            if n == 15:  # ann's bucket is empty by now; bob's stream has a budget of its own
                bob_sent = time.monotonic()
                for m in range(1, 9):
                    await agent.send(31, reply(f"bob {m}"))
            await asyncio.sleep(0.02)
        await eventually(lambda: ann.got and ann.got[-1][1] == burst[-1], 10, what="the burst's last message")
        await asyncio.sleep(0.5)  # nothing more comes
        elapsed = ann.got[-1][2] - start
        print(f"50 messages to one addressee: {len(ann.got)} relayed in {elapsed:.2f} s")
        assert ann.payloads()[-1] == burst[-1]  # the latest always goes out
        assert len(ann.got) <= RATE + RATE * elapsed + 2, (len(ann.got), elapsed)
        assert len(ann.got) < 40
        assert ann.payloads() == sorted(ann.payloads(), key=len)  # in order, each newer than the last
        # Bob's eight fit his own bucket: they come at once. Sharing ann's budget (or one budget
        # per sender) they would have come one per 100 ms, the last after 700 ms or more.
        assert bob.payloads() == [reply(f"bob {m}") for m in range(1, 9)]
        bob_latency = bob.got[-1][2] - bob_sent
        print(f"bob's 8 messages, sent during ann's burst, done after {bob_latency * 1000:.0f} ms")
        assert bob_latency < 0.4, bob_latency


async def test_the_addressees_leaving_drops_what_waits_for_it(tmp_path: Path) -> None:
    # One relay a second per pair: what waits, waits long enough to see where it goes.
    hub = HubProcess(tmp_path / "data", "--presence-updates-per-second", "1").start()
    try:
        url = f"{hub.ws_url}/ws/direct-leaving"
        async with peer(url) as agent:
            await agent.announce(11)
            async with peer(url) as ann:
                await ann.announce(21)
                await asyncio.sleep(0.2)
                for n in range(1, 4):  # the first at once, the others wait a second for the pair's timer
                    await agent.send(21, reply(f"v{n}"))
                await eventually(lambda: ann.got, 10, what="the first")
                assert ann.payloads() == [reply("v1")]
            # Ann reconnects under the same client id: what waited for the old connection is gone.
            async with peer(url) as ann_again:
                await ann_again.announce(21)
                await asyncio.sleep(1.5)
                assert ann_again.got == []
                await agent.send(21, reply("fresh"))
                await eventually(lambda: ann_again.got, 10, what="a fresh message")
                assert ann_again.payloads() == [reply("fresh")]
    finally:
        hub.stop()


async def test_a_sender_has_at_most_64_addressees_at_once(hub: HubProcess) -> None:
    url = f"{hub.ws_url}/ws/direct-many"
    async with peer(url) as agent, peer(url) as ann:
        await agent.announce(11)
        await ann.announce(21)
        await asyncio.sleep(0.2)
        for cid in range(1000, 1064):  # 64 pairs, each with a token spent: none can be forgotten yet
            await agent.send(cid, reply("to nobody"))
        await agent.send(21, reply("one too many"))
        await asyncio.sleep(1.5)  # their buckets fill again: now they can be forgotten
        assert ann.got == []
        await agent.send(21, reply("room again"))
        await eventually(lambda: ann.got, 10, what="the message after the pairs were forgotten")
        assert ann.payloads() == [reply("room again")]
        assert not agent.closed.done()
    assert hub.log().count("more addressees at once than allowed") == 1
