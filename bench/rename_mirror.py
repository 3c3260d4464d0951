"""Renames through a real `collab join` (issue 14): how long until the other side sees them.

    .venv/bin/python bench/rename_mirror.py [N]      # N files in 10 folders (default 500)

Prints: one file `mv`'d on disk -> renamed in the session; the folder holding the N files moved on
disk -> every file renamed in the session (none in the trash); that folder renamed in the session
(Workspace.rename_folder) -> every file moved on disk. Each includes the watcher's 200 ms debounce
and the 0.3 s delete grace a rename waits out.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.client.join_process import JoinProcess  # noqa: E402
from tests.client.workspace_clients import clients  # noqa: E402
from tests.support.hub_process import HubProcess  # noqa: E402
from tests.support.waiting import eventually  # noqa: E402


async def measure(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="rename-bench-"))
    hub = HubProcess(tmp / "data").start()
    try:
        link = f"{hub.url}/s/rename-bench"
        folder = tmp / "mirror"
        async with clients(link, "ada") as (ada,):
            with ada.doc.transaction():
                for i in range(n):
                    ada.ws.write(f"src/pkg{i % 10}/m{i}.py", f"value = {i}\n")
                ada.ws.write("README.md", "readme\n")
            join = JoinProcess(link, folder, "joe").start()
            try:
                await eventually(lambda: len(list(folder.rglob("m*.py"))) == n, timeout=120)
                await asyncio.sleep(3)  # after the join's catch-up rescans (0.5 s and 2 s after it starts)
                t = time.monotonic()
                os.rename(folder / "README.md", folder / "READ.md")
                await eventually(lambda: "READ.md" in ada.ws, timeout=60, interval=0.01)
                one = time.monotonic() - t
                t = time.monotonic()
                os.rename(folder / "src", folder / "lib")
                await eventually(lambda: sum(p.startswith("lib/") for p in ada.ws.paths()) == n, timeout=120, interval=0.05)
                moved = time.monotonic() - t
                assert ada.ws.trash() == [], "a moved file went to the trash"
                t = time.monotonic()
                ada.ws.rename_folder("lib", "app")
                await eventually(lambda: (folder / "app").exists() and len(list((folder / "app").rglob("m*.py"))) == n,
                                 timeout=120, interval=0.05)
                back = time.monotonic() - t
            finally:
                join.stop()
        print(f"N={n}: one file mv -> session {one * 1000:.0f} ms; folder moved on disk -> renamed in the session "
              f"{moved * 1000:.0f} ms; folder renamed in the session -> moved on disk {back * 1000:.0f} ms")
    finally:
        hub.stop()


if __name__ == "__main__":
    asyncio.run(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
