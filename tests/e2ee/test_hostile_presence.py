"""A member's hostile presence (issue 13, finding 2) stops nobody's sync.

The attacker is a read-only member of an encrypted room speaking raw frames: it seals presence
states the room's clients cannot hold (JSON nested 30,000 deep, which made ``json.loads`` raise
RecursionError in every Python client's receive task; JSON that is not an object) and keeps its
connection open, so the hub replays the last of them to everyone who joins later. A real
`collab join`, a real `collab agent` and a library Session in the room must keep syncing both
ways, and a client joining afterwards must work too.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pycrdt

from collab.client.session import Session
from collab.crypto.links import write_link
from collab.protocol import relay_frames as frames
from collab.protocol import yjs
from collab.protocol.envelope import new_author_id, seal_awareness
from tests.client.join_process import JoinProcess
from tests.e2ee.support import new_room, raw_client, room_url
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually

NESTED = "[" * 30_000 + "]" * 30_000  # 60 kB: under the hub's 64 kB presence limit
HOSTILE = ['{"user": "ann"} and then some', "[1, 2, 3]", "42", NESTED]  # not JSON, not objects; nested last: replayed


def agent_process(link: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "OLLAMA_", "COLLAB_AGENT"))}
    return subprocess.Popen(
        [sys.executable, "-m", "collab.cli", "agent", link, "--name", "helper"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**env, "COLLAB_AGENT_MODEL": "builtin"},
    )


def answered(session: Session, message_id: str) -> bool:
    return any(
        isinstance(m, pycrdt.Map) and m.get("reply_to") == message_id and m.get("status") == "done"
        for m in session.workspace.chat
    )


async def test_hostile_presence_from_a_member_stops_no_ones_sync(hub: HubProcess, tmp_path: Path) -> None:
    keys = new_room(hub)
    link = write_link(hub.url, keys)
    folder = tmp_path / "W"
    join = await asyncio.to_thread(JoinProcess(link, folder, "ann").start)
    agent = agent_process(link)
    try:
        async with Session.connect(link, name="bob") as bob:
            await eventually(lambda: any(s.get("agent", {}).get("name") == "helper" for s in bob.peers().values()), 30,
                             what="the agent in the room")
            async with raw_client(room_url(hub, keys)) as attacker:
                await attacker.hello(keys.read_only())  # a read-only member: the read secret is all it takes
                session_id, client_ids = new_author_id(), [random.randrange(1, 2**32) for _ in HOSTILE]
                for counter, (client_id, state) in enumerate(zip(client_ids, HOSTILE), 1):
                    update = yjs.encode_awareness([yjs.AwarenessEntry(client_id, 1, state)])
                    await attacker.ws.send(frames.awareness(seal_awareness(keys.read_only(), session_id, counter, update)))
                # Edits both ways between the folder and the session, and the agent still answers
                # (the hub relays presence at once; a folder edit takes longer to reach it).
                (folder / "from_join.py").write_text("a = 1\n")
                await eventually(lambda: "from_join.py" in bob.workspace, 20, what="join's edit at bob")
                bob.workspace.write("from_bob.py", "b = 2\n")
                await eventually(lambda: (folder / "from_bob.py").exists(), 20, what="bob's edit in the folder")
                asked = bob.workspace.post_chat("bob", "@helper are you still there?")
                await eventually(lambda: answered(bob, asked), 30, what="the agent's answer")
                # Each hostile state was dropped on its own, and none is held.
                assert sum(r.error == "PresenceError" for r in bob.provider.rejected) == len(HOSTILE)
                assert not set(client_ids) & set(bob.awareness.states)

                # A client joining now is sent the attacker's last presence (the nested one) by the hub.
                async with Session.connect(link, name="late") as late:
                    await eventually(lambda: any(r.error == "PresenceError" for r in late.provider.rejected), 15,
                                     what="the replayed hostile state dropped by the late joiner")
                    assert {"from_join.py", "from_bob.py"} <= set(late.workspace.paths())
                    late.workspace.write("from_late.py", "c = 3\n")
                    await eventually(lambda: (folder / "from_late.py").exists(), 20, what="late's edit in the folder")
                    (folder / "from_join.py").write_text("a = 2\n")
                    await eventually(lambda: late.workspace.read("from_join.py") == "a = 2\n", 20,
                                     what="join's later edit at the late joiner")
                    asked = late.workspace.post_chat("late", "@helper and now?")
                    await eventually(lambda: answered(late, asked), 30, what="the agent's second answer")
    finally:
        code = await asyncio.to_thread(join.stop)
        agent.send_signal(signal.SIGINT)
        out, _ = await asyncio.to_thread(agent.communicate, timeout=30)
    assert code == 0, join.output()
    for output in (join.output(), out):
        assert "Traceback" not in output and "RecursionError" not in output, output
    assert agent.returncode == 0, out

