"""Pacing one sender's direct messages (docs/protocol.md, "Direct messages"), per addressee.

A direct message is state, like presence: an inline completion is re-sent whole, the text so far,
on every token, so only the latest one waiting for an addressee matters. Each (sender, addressee)
pair has its own token bucket (collab.hub.pacing, at ``--presence-updates-per-second``), so an
agent streaming to ten typists gives each its own budget instead of the ten sharing the one of
its presence: with a shared budget the tenth typist's first ghost character waited ~200 ms p99
(bench/inline). A message that comes while its pair has no token replaces the one waiting, and
the pair's timer relays whichever is latest when it fires. No task per message, only timers.

Bounded: a sender has at most ``MAX_PAIRS`` pairs; a pair with nothing waiting and a full bucket
is forgotten when room is needed (a fresh one would behave the same), and messages to an
addressee past the bound are dropped.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Generic, Hashable, TypeVar

from collab.hub.pacing import Pacer

MAX_PAIRS = 64  # addressees one connection may have at once (docs/protocol.md)

K = TypeVar("K", bound=Hashable)  # an addressee
T = TypeVar("T")  # a message, as the room delivers it


class _Pair(Generic[T]):
    __slots__ = ("pacer", "waiting")

    def __init__(self) -> None:
        self.pacer: Pacer
        self.waiting: T | None = None


class Outbox(Generic[K, T]):
    """The direct messages one sender connection has for each of its addressees."""

    __slots__ = ("_rate", "_deliver", "_max_pairs", "_pairs", "refused")

    def __init__(self, rate: float, deliver: Callable[[K, T], None], *, max_pairs: int = MAX_PAIRS) -> None:
        self._rate = rate
        self._deliver = deliver  # called when a message may go: the room finds the addressee then
        self._max_pairs = max_pairs
        self._pairs: dict[K, _Pair[T]] = {}
        self.refused = False  # a refusal of this sender's was logged: the next ones are not

    def __len__(self) -> int:
        return len(self._pairs)

    def send(self, to: K, message: T) -> bool:
        """Deliver now, or keep it as the one waiting for ``to``; False: dropped, too many addressees."""
        pair = self._pairs.get(to)
        if pair is None:
            if len(self._pairs) >= self._max_pairs and not self._prune():
                return False
            pair = self._pairs[to] = _Pair()
            pair.pacer = Pacer(self._rate, partial(self._flush, to, pair))
        pair.waiting = message  # replaces an older one still waiting: coalesced
        if pair.pacer.ready():
            self._flush(to, pair)
        return True

    def _flush(self, to: K, pair: _Pair[T]) -> None:
        message, pair.waiting = pair.waiting, None
        if message is not None:
            self._deliver(to, message)

    def _prune(self) -> bool:
        """Forget the pairs a fresh one would stand in for; True if that made room."""
        for to in [to for to, pair in self._pairs.items() if pair.waiting is None and pair.pacer.idle()]:
            del self._pairs[to]
        return len(self._pairs) < self._max_pairs

    def forget(self, to: K) -> None:
        """The addressee left: what waits for it goes."""
        pair = self._pairs.pop(to, None)
        if pair is not None:
            pair.pacer.cancel()

    def close(self) -> None:
        """The sender left: nothing of it is relayed any more."""
        for pair in self._pairs.values():
            pair.pacer.cancel()
        self._pairs.clear()
