"""A plaintext room bigger than the send buffer stays joinable (issue 13, finding 4).

A client writes 18 MiB into a room, in updates under the frame limit; a fresh pycrdt client that
joins afterwards must get all of it. The hub's answer to its sync step 1 is one frame of 18 MiB,
more than the 16 MiB send buffer (the default), and every joiner used to be dropped with 4408.
"""

from __future__ import annotations

from typing import Any

import pycrdt

from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually
from tests.support.yclient import pycrdt_client

FILES = 6
FILE_BYTES = 3 * 1024 * 1024  # 18 MiB in all, each update well under the 8 MiB frame limit


def content(i: int) -> str:
    line = f"# file {i}: " + "x" * 60 + "\n"
    return (line * (FILE_BYTES // len(line) + 1))[:FILE_BYTES]


def total(doc: pycrdt.Doc[Any]) -> int:
    files = doc.get("files", type=pycrdt.Map)
    return sum(len(str(files[k])) for k in files.keys())


async def test_a_room_bigger_than_the_send_buffer_stays_joinable(hub: HubProcess) -> None:
    url = f"{hub.ws_url}/ws/big"
    async with pycrdt_client(url) as writer, pycrdt_client(url) as watcher:
        files = writer.get("files", type=pycrdt.Map)
        for i in range(FILES):
            files[f"src/f{i}.py"] = pycrdt.Text(content(i))
        # Everything is in the hub's document once a client that was there got it all.
        await eventually(lambda: total(watcher) == FILES * FILE_BYTES, 120, what="the writes at the watcher")
    async with pycrdt_client(url) as late:
        assert total(late) == FILES * FILE_BYTES
        assert str(late.get("files", type=pycrdt.Map)["src/f3.py"]) == content(3)
    assert "not reading" not in hub.log()
