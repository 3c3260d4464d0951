"""One request runner for both kinds of request: claim, stream into the document, cancel, finish.

The steps particular to chat answers and suggestions are collab/ai/requests.py; what is the same
for both is here, once: a refusal (local models only, rate limits) is written as the claim and
nothing is spent; otherwise one model call streams delta by delta into a shared Y.Text, each delta
its own transaction so everyone sees it as it arrives; a stall, a backend error, or our own reason
to stop (stale, superseded, rejected) ends it with the document saying why, and every call is
accounted for (collab/ai/usage.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator, Callable

import pycrdt

from collab.ai.backend import BackendError, Delta
from collab.ai.requests import Request
from collab.ai.stream import text_deltas
from collab.ai.usage import RequestStats, UsageLedger, usage_fields
from collab.workspace import Workspace

log = logging.getLogger("collab.ai.agent")


class RequestRunner:
    def __init__(
        self,
        ws: Workspace,
        ledger: UsageLedger,
        *,
        refusal: Callable[[], str | None],
        redact: Callable[[str], str],
        on_busy: Callable[[], None],
        first_token_timeout: float,
        idle_timeout: float,
        clock: Callable[[], float],
    ) -> None:
        self.ws = ws
        self.ledger = ledger
        self._refusal = refusal
        self._redact = redact  # error text goes into the room: no secret may ride along
        self._on_busy = on_busy
        self.first_token_timeout = first_token_timeout
        self.idle_timeout = idle_timeout
        self._clock = clock
        self.model_calls = 0  # requests sent to the backend: the room pays for exactly these
        self.busy = 0  # streams running now (shown in presence)

    async def run(self, request: Request) -> None:
        if not request.wanted():
            return
        refusal = self._refusal()
        request.claim(refusal)
        if refusal:
            log.info("agent %s refused a %s request: %s", self.ledger.name, request.kind, refusal)
            return
        reason: list[str] = []
        task = asyncio.current_task()
        assert task is not None

        def stop(why: str) -> None:
            if not reason:
                reason.append(why)
                task.cancel()

        begun = request.begin(stop)
        if begun is None:
            return
        stream, target = begun
        stats = RequestStats(request.kind, request.key, self._clock())
        try:
            try:
                await self._stream(stream, target, stats)
            finally:
                request.streamed()
        except asyncio.CancelledError:
            if not reason or task.cancelling() > 1:
                raise  # not our reason (the agent is stopping): let it through
            task.uncancel()
            stats.outcome = reason[0]
            request.cancelled(reason[0])
        except BackendError as exc:
            stats.outcome = "error"
            request.failed(self._redact(str(exc)))
        else:
            stats.outcome = "done"
            request.done(usage_fields(stats))
        finally:
            request.close()
            self.ledger.finish(stats)

    async def _stream(self, stream: AsyncIterator[Delta], target: pycrdt.Text, stats: RequestStats) -> None:
        """Append each delta to ``target`` as its own transaction, so everyone sees it as it arrives.

        Closing the iterator on every exit (cancel, timeout, error) is what closes the HTTP request.
        """
        self.model_calls += 1
        self.busy += 1
        self._on_busy()
        deltas = text_deltas(
            stream, stats, first_token_timeout=self.first_token_timeout, idle_timeout=self.idle_timeout, clock=self._clock
        )
        try:
            async with contextlib.aclosing(deltas):
                async for delta in deltas:
                    self.ws.stream_into(target, delta)
        finally:
            self.busy -= 1
            self._on_busy()
