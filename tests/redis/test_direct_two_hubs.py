"""Direct messages between two hubs on one Redis (docs/protocol.md, "Direct messages"): the
sender's hub paces the pair and publishes relay DIRECT; only the hub holding the addressee
delivers it, to that connection alone."""

from __future__ import annotations

import asyncio
import time

from collab.protocol.envelope import open_envelope
from tests.e2ee.direct_members import member
from tests.e2ee.support import new_room
from tests.hub.direct_clients import peer, reply
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually

RATE = 10  # the hubs' default --presence-updates-per-second


async def test_a_plaintext_direct_message_reaches_the_addressee_on_the_other_hub(
    two_hubs: tuple[HubProcess, HubProcess],
) -> None:
    a, b = two_hubs
    url_a, url_b = f"{a.ws_url}/ws/direct-shared", f"{b.ws_url}/ws/direct-shared"
    async with peer(url_a) as agent, peer(url_b) as ann, peer(url_b) as bob, peer(url_a) as carol:
        await agent.announce(11)
        await ann.announce(21)
        await bob.announce(31)
        await carol.announce(41)
        await asyncio.sleep(1.0)  # presence crosses over
        await agent.send(21, reply("for ann, over there"))
        await agent.send(31, reply("for bob"))
        await eventually(lambda: ann.got and bob.got, 10, what="both across hubs")
        assert [(s, p) for s, p, _ in ann.got] == [(11, reply("for ann, over there"))]
        assert [(s, p) for s, p, _ in bob.got] == [(11, reply("for bob"))]  # not ann's
        # A burst across hubs: paced at the sender's hub, and its latest one arrives.
        burst = [reply("y" * n) for n in range(1, 31)]
        start = time.monotonic()
        for payload in burst:
            await ann.send(11, payload)
        await eventually(lambda: agent.got and agent.got[-1][1] == burst[-1], 10, what="the burst's last message")
        await asyncio.sleep(0.5)
        elapsed = agent.got[-1][2] - start
        assert {s for s, _, _ in agent.got} == {21}
        assert len(agent.got) <= RATE + RATE * elapsed + 2, (len(agent.got), elapsed)
        assert carol.got == []


async def test_an_encrypted_direct_message_crosses_hubs_byte_for_byte(
    two_hubs: tuple[HubProcess, HubProcess],
) -> None:
    a, b = two_hubs
    keys = new_room(a)
    async with member(a, keys) as agent, member(b, keys) as ann, member(b, keys) as bob, member(a, keys) as carol:
        envelope = agent.seal("for ann, over there")
        await agent.send(ann.conn_id, envelope)
        for_bob = agent.seal("for bob")
        await agent.send(bob.conn_id, for_bob)
        await eventually(lambda: ann.direct and bob.direct, 10, what="both across hubs")
        assert [(s, env) for s, env, _ in ann.direct] == [(agent.conn_id, envelope)]
        assert open_envelope(keys, ann.direct[0][1]).plaintext == open_envelope(keys, envelope).plaintext
        assert [(s, env) for s, env, _ in bob.direct] == [(agent.conn_id, for_bob)]
        assert carol.direct == [] and agent.nacks == []
