"""A model's stream as text, under the agent's time limits: what every kind of request reads.

Chat answers, shared suggestions and inline completions all read a backend's stream the same way:
a deadline for the first token and one between tokens, usage reports kept apart from text, the
first token's time and the chunk count recorded, and the backend's iterator closed on every exit
(closing it is what closes the model's HTTP request, so a cancelled request stops costing tokens).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncGenerator, AsyncIterable, Callable

from collab.ai.backend import BackendError, Delta, Usage
from collab.ai.usage import RequestStats


async def text_deltas(
    stream: AsyncIterable[Delta],
    stats: RequestStats,
    *,
    first_token_timeout: float,
    idle_timeout: float,
    clock: Callable[[], float],
) -> AsyncGenerator[str, None]:
    """The stream's text pieces; read it inside ``contextlib.aclosing`` so an early stop closes it."""
    iterator = aiter(stream)
    try:
        while True:
            wait = first_token_timeout if stats.first_token is None else idle_timeout
            try:
                async with asyncio.timeout(wait):
                    delta = await anext(iterator)
            except StopAsyncIteration:
                return
            except TimeoutError:
                what = "no first token" if stats.first_token is None else "the stream stalled"
                raise BackendError(f"{what}: the model sent nothing for {wait:g} s") from None
            if isinstance(delta, Usage):
                stats.usage = delta
                continue
            if stats.first_token is None:
                stats.first_token = clock()
            stats.chunks += 1
            yield delta
    finally:
        stats.finished = clock()
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
