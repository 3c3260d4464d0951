"""Which sequence numbers of one log have been seen: everything up to ``upto``, plus some above it.

Used wherever entries numbered 1, 2, 3, ... can arrive out of order or with holes: a hub hearing a
room's log from other hubs over Redis, and an encrypted-room client hearing the hub's entries.
"""

from __future__ import annotations


class Watermark:
    __slots__ = ("upto", "ahead")

    def __init__(self, upto: int = 0) -> None:
        self.upto = upto  # no hole at or below this
        self.ahead: set[int] = set()  # seen, above a hole

    def has(self, seq: int) -> bool:
        return seq <= self.upto or seq in self.ahead

    def saw(self, seq: int) -> None:
        if seq <= self.upto:
            return
        self.ahead.add(seq)
        self._close_up()

    def advance(self, seq: int) -> None:
        """Everything up to ``seq`` is covered (a snapshot, or a log read up to its head)."""
        if seq <= self.upto:
            return
        self.upto = seq
        self.ahead = {s for s in self.ahead if s > seq}
        self._close_up()

    @property
    def gap(self) -> bool:
        """Something above a hole was seen: the hole's entries are missing."""
        return bool(self.ahead)

    def _close_up(self) -> None:
        while self.upto + 1 in self.ahead:
            self.upto += 1
            self.ahead.discard(self.upto)
