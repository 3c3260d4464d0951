"""Runs first in every worker process the hub starts (collab.hub.decoder); imports nothing heavy.

A worker of a ProcessPoolExecutor holds both ends of its task queue, so it never sees its parent
go: after a ``kill -9`` of the hub it would wait forever (seen here). It watches the parent's
sentinel instead, and exits with it.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from multiprocessing.connection import wait


def exit_with_parent() -> None:
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
