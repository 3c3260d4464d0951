"""Large Yjs updates are validated and diffed in a worker process, off the event loop.

A plaintext room decodes every update it receives (to refuse garbage, and to keep only what the
room lacks). On a large one that is slow: ~0.9 s for an 8 MB update of 400,000 map entries,
measured here, and re-sent copies cost the same (issue 13: edits in an unrelated room went from
22 ms to ~1 s). A worker *thread* would not help: pycrdt holds the GIL through its Rust calls (a
thread decoding an 8 MB update let another Python thread run 1 of ~900 1-ms ticks). Validating and
diffing are pure functions of bytes, so a process does them: the update and the room's state
vector go in, the diff comes back, and only the connection that sent it waits for it.

Below ``threshold`` the round trip to the process costs more than the decode (a keystroke's update
decodes in microseconds), so small updates stay on the loop. The process starts on first use.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from collab.protocol.yjs_update import diff_update
from collab.worker_process import exit_with_parent

log = logging.getLogger(__name__)

# 64 KiB decodes in at most ~7 ms on the loop (the dense case above, scaled); a worker round
# trip of that much costs about 1 ms.
THRESHOLD = 64 * 1024


class Decoder:
    def __init__(self, threshold: int = THRESHOLD) -> None:
        self.threshold = threshold
        self._pool: ProcessPoolExecutor | None = None

    async def diff(self, update: bytes, state_vector: bytes) -> bytes:
        """``diff_update`` in the worker; raises ValueError for an invalid update."""
        if self._pool is None:
            # spawn, not fork: the hub has threads (the store's, asyncio's), which fork does not copy.
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=exit_with_parent
            )
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, diff_update, update, state_vector)
        except BrokenProcessPool:
            # The worker died (killed, out of memory) on this update: a fresh one serves the next.
            log.warning("the Yjs decoding worker died; starting a new one")
            if self._pool is pool:
                self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise ValueError("the update could not be decoded") from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
