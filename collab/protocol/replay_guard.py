"""Per-author sequence checks on opened envelopes, and the updates held back behind a gap.

The hub cannot forge envelopes, but it can replay, reorder or withhold genuine ones. Each author
numbers its envelopes of each type 1, 2, 3, … (``collab.protocol.envelope``), so on the client:

* updates from the room's log go through :meth:`ReplayGuard.admit`. An author's next update
  (last + 1) is accepted, followed by any of its later ones that were held. One above that is
  *held*, not dropped: the hub delayed or withheld something before it (issue 21: dropping it,
  as version 1 did, lost the edit for good once a snapshot said it had been seen). At or below the
  last accepted, or the same author seq held already under another hub seq, is a replay
  (:class:`ReplayedEnvelope`): an honest resend after a reconnect looks like that too, and Yjs
  updates are idempotent, so the caller drops it. An author never seen starts at 1, unless
  :meth:`load` gave its head from a snapshot.
* snapshots and awareness go through :meth:`ReplayGuard.check`: anything at or below the last
  seen is a replay; gaps are normal (old snapshots are replaced, presence is lossy).

What is held is bounded (per author and in bytes); an update that does not fit is not kept, and,
like a held one, must not be counted as received by the caller: asking the hub again from the last
seq it holds whole brings both back. Call :meth:`admit` and :meth:`check` only after
:func:`~collab.protocol.envelope.open_envelope` succeeded, so unauthenticated input never moves
the counters. The browser's ``web/src/crypto/replay.ts`` has the same rules.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from collab.protocol.envelope import (
    AUTHOR_ID_SIZE,
    MAX_U64,
    EnvelopeType,
    Opened,
    ReorderedEnvelope,
    ReplayedEnvelope,
)

# An honest hub that delays one envelope puts a few dozen behind it; these bound what a hostile
# one can make a client keep: 1,024 updates per author, 32 MiB of plaintext in all.
MAX_HELD_PER_AUTHOR = 1024
MAX_HELD_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Held:
    """An update from the room's log with the hub seq it came under."""

    seq: int
    opened: Opened


@dataclass(frozen=True, slots=True)
class Gap:
    """An author whose update ``expected`` has not arrived while later ones have."""

    author: bytes
    expected: int  # the author seq everything held waits for
    first_held: int  # the lowest author seq held
    held: int  # how many of its updates are held

    def __str__(self) -> str:
        missing = f"{self.expected}" if self.first_held == self.expected + 1 else f"{self.expected}..{self.first_held - 1}"
        return f"update {missing} of author {self.author.hex()[:8]}… ({self.held} held behind it)"


class ReplayGuard:
    def __init__(self, *, max_held_per_author: int = MAX_HELD_PER_AUTHOR, max_held_bytes: int = MAX_HELD_BYTES) -> None:
        self._last: dict[tuple[EnvelopeType, bytes], int] = {}
        self._held: dict[bytes, dict[int, Held]] = {}  # author -> author seq -> held update
        self._held_bytes = 0
        self.max_held_per_author = max_held_per_author
        self.max_held_bytes = max_held_bytes
        self.not_kept = 0  # updates ahead of a gap that did not fit (the hub sends them again)

    # -- updates from the room's log ----------------------------------------------------------

    def admit(self, seq: int, opened: Opened) -> list[Held]:
        """An update that came as hub entry ``seq``: the updates to apply now, in order.

        ``[this one, then each held one it unblocks]`` when it is its author's next; ``[]`` when it
        is ahead of a gap (held, or not kept when the bounds are reached). Raises
        :class:`ReplayedEnvelope` for an author seq accepted already, or held under another seq.
        """
        if opened.type is not EnvelopeType.UPDATE:
            raise ValueError(f"only updates are admitted from the log, not {opened.type.name.lower()}")
        author, aseq = opened.author_id, opened.author_seq
        key = (EnvelopeType.UPDATE, author)
        last = self._last.get(key, 0)
        held = self._held.get(author, {})
        if aseq <= last:
            raise ReplayedEnvelope(f"{_who(opened)} is a replay: {last} was already accepted")
        if aseq in held:
            if held[aseq].seq == seq:
                return []  # the same entry again: the hub was asked for it again
            raise ReplayedEnvelope(f"{_who(opened)} is a replay: it is already held as entry {held[aseq].seq}")
        if aseq != last + 1:
            self._hold(Held(seq, opened))
            return []
        self._last[key] = aseq
        return [Held(seq, opened), *self._release(author)]

    def release(self) -> tuple[list[Held], list[Held]]:
        """After :meth:`load`: (held updates now in order, held updates the new heads cover)."""
        ready: list[Held] = []
        covered: list[Held] = []
        for author in list(self._held):
            last = self._last.get((EnvelopeType.UPDATE, author), 0)
            held = self._held[author]
            for aseq in sorted(a for a in held if a <= last):
                covered.append(self._unhold(author, aseq))
            ready.extend(self._release(author))
        return ready, covered

    def gaps(self) -> list[Gap]:
        """Every author with updates held, oldest gap first."""
        out = []
        for author, held in self._held.items():
            if held:
                expected = self._last.get((EnvelopeType.UPDATE, author), 0) + 1
                out.append(Gap(author, expected, min(held), len(held)))
        return sorted(out, key=lambda g: min(h.seq for h in self._held[g.author].values()))

    @property
    def held(self) -> int:
        return sum(len(h) for h in self._held.values())

    def lowest_held_seq(self) -> int | None:
        """The lowest hub seq among held updates (None: nothing held)."""
        return min((h.seq for held in self._held.values() for h in held.values()), default=None)

    def _hold(self, item: Held) -> None:
        author = item.opened.author_id
        held = self._held.setdefault(author, {})
        size = len(item.opened.plaintext)
        if len(held) >= self.max_held_per_author or self._held_bytes + size > self.max_held_bytes:
            self.not_kept += 1
            if not held:
                del self._held[author]
            return
        held[item.opened.author_seq] = item
        self._held_bytes += size

    def _unhold(self, author: bytes, aseq: int) -> Held:
        item = self._held[author].pop(aseq)
        self._held_bytes -= len(item.opened.plaintext)
        if not self._held[author]:
            del self._held[author]
        return item

    def _release(self, author: bytes) -> list[Held]:
        key = (EnvelopeType.UPDATE, author)
        out = []
        while author in self._held and (nxt := self._last.get(key, 0) + 1) in self._held[author]:
            self._last[key] = nxt
            out.append(self._unhold(author, nxt))
        return out

    # -- everything else ------------------------------------------------------------------------

    def check(self, opened: Opened, *, allow_gap: bool = False) -> None:
        """Accept ``opened`` or raise; a failed check records nothing.

        For snapshots, presence and our own updates. An update must be its author's next unless
        ``allow_gap`` (:class:`ReorderedEnvelope` otherwise; updates from the log use :meth:`admit`).
        """
        key = (opened.type, opened.author_id)
        last = self._last.get(key, 0)
        seq = opened.author_seq
        if seq <= last:
            raise ReplayedEnvelope(f"{_who(opened)} is a replay: {last} was already accepted")
        if opened.type is EnvelopeType.UPDATE and seq != last + 1 and not allow_gap:
            missing = f"{last + 1}" if seq == last + 2 else f"{last + 1}..{seq - 1}"
            raise ReorderedEnvelope(
                f"{_who(opened)} arrived but {last + 1} was expected: updates {missing} were "
                "reordered or withheld",
                expected=last + 1,
                got=seq,
            )
        self._last[key] = seq

    def export(self) -> dict[str, int]:
        """Update heads as {author id hex: last seq}, for a snapshot's plaintext to carry."""
        return {
            author.hex(): seq
            for (etype, author), seq in sorted(self._last.items())
            if etype is EnvelopeType.UPDATE
        }

    def load(self, heads: Mapping[str, int]) -> None:
        """Adopt update heads from a snapshot; a head never moves backwards. Then :meth:`release`."""
        parsed: dict[bytes, int] = {}
        for author_hex, seq in heads.items():
            try:
                author = bytes.fromhex(author_hex)
            except (TypeError, ValueError):
                author = b""
            if len(author) != AUTHOR_ID_SIZE:
                raise ValueError(f"author head key {author_hex!r} is not 16 bytes of hex")
            if type(seq) is not int or not 1 <= seq <= MAX_U64:
                raise ValueError(f"author head for {author_hex} must be an integer >= 1")
            parsed[author] = seq
        for author, seq in parsed.items():  # validate everything before changing anything
            key = (EnvelopeType.UPDATE, author)
            self._last[key] = max(self._last.get(key, 0), seq)


def _who(opened: Opened) -> str:
    return f"{opened.type.name.lower()} {opened.author_seq} from author {opened.author_id.hex()}"


__all__ = ["Gap", "Held", "MAX_HELD_BYTES", "MAX_HELD_PER_AUTHOR", "ReplayGuard"]
