"""The room's log as an encrypted client holds it: each ENTRY opened, checked, then applied or held.

Only what the document holds counts as received. An update ahead of its author's gap is held
(``collab.protocol.replay_guard``) and not counted until the gap closes; an entry that was
rejected keeps ``since`` below it. ``since`` is what a resume asks the hub from (HELLO) and what
a snapshot covers, so both come again on the next connection, and a snapshot never says that an
update it lacks was seen (issue 21: version 1 counted a rejected, reordered update as received,
compacted over it, and the hub deleted the only copy).

``missing()`` says what the hub has not given us; ``stuck()`` returns once the same thing has
been missing for a while after a sync, when the provider asks the hub again (a new connection
with HELLO since, the protocol's one way to ask for a range); ``blocked()`` says why no snapshot
may be made now: anything missing, or anything rejected.
"""

from __future__ import annotations

import asyncio
from typing import Callable, Protocol

import pycrdt

from collab.crypto.epochs import Keyring
from collab.crypto.keys import RoomKeys
from collab.protocol.envelope import (
    Envelope,
    EnvelopeError,
    EnvelopeType,
    ReplayedEnvelope,
    WrongEpoch,
    open_envelope,
    parse_envelope,
)
from collab.protocol.log_hash import LogHash
from collab.protocol.replay_guard import Held, ReplayGuard
from collab.protocol.snapshot import decode_snapshot, snapshot_log_hash
from collab.watermark import Watermark

MAX_ASK_WAIT = 60.0  # a hub that never sends what is missing is asked again at most once a minute

Apply = Callable[[bytes], None]  # a Yjs update into the document
RejectEntry = Callable[[int, str, Exception], None]  # (hub seq, kind, why)
Fork = Callable[[str], None]  # what does not match, in words


class Counter(Protocol):
    since: int  # updates since the last snapshot (the compactor's)


class RoomLog:
    def __init__(
        self,
        keyring: Keyring | RoomKeys,
        guard: ReplayGuard,
        apply: Apply,
        reject: RejectEntry,
        *,
        on_update: Callable[[], None],
        counter: Counter,
        ask_wait: float,
        on_fork: Fork | None = None,
    ) -> None:
        self.keyring = keyring if isinstance(keyring, Keyring) else Keyring(keyring)
        self.guard = guard
        self.apply = apply
        self.reject = reject
        self.on_update = on_update  # one more update applied (compaction counts them)
        self.counter = counter
        self.seen = Watermark()  # entries dealt with: applied, replays of what is applied, rejected
        self.rejected: set[int] = set()  # entries dropped whose content the document lacks
        self.head = 0  # the hub's head as of the last SYNCED
        self.live = False  # synced on the current connection
        self.ask_wait = ask_wait
        self.hash = LogHash()  # fork detection (collab.protocol.log_hash)
        self.on_fork = on_fork
        self._wait = ask_wait
        self._asked_for: object = None  # what was missing when we last asked

    # -- where we stand -----------------------------------------------------------------------

    @property
    def since(self) -> int:
        """Every entry up to this one is in the document (HELLO since; what a snapshot covers)."""
        upto = self.seen.upto
        return min(upto, min(self.rejected) - 1) if self.rejected else upto

    def missing(self) -> str | None:
        """What the hub has not given us, in words; None when nothing is missing."""
        gaps = self.guard.gaps()
        hole = self.seen.gap or self.head > self.seen.upto
        if not gaps and not hole:
            return None
        if gaps:
            what = "; ".join(str(g) for g in gaps[:3]) + (f"; {len(gaps) - 3} more authors" if len(gaps) > 3 else "")
        else:
            what = f"the hub has entries up to {max(self.head, max(self.seen.ahead, default=0))}"
        return f"entries after {self.seen.upto} are missing ({what})"

    def blocked(self) -> str | None:
        """Why a snapshot must not be made now (it would say that what we lack was seen), or None."""
        missing = self.missing()
        if missing is not None:
            return missing
        if self.rejected:
            listed = ", ".join(str(s) for s in sorted(self.rejected)[:5]) + (", …" if len(self.rejected) > 5 else "")
            return f"entries {listed} were rejected, so this copy lacks them"
        return None

    def _missing_key(self) -> object:
        gaps = self.guard.gaps()
        if not gaps and not (self.seen.gap or self.head > self.seen.upto):
            return None
        return (self.seen.upto, frozenset((g.author, g.expected) for g in gaps))

    async def stuck(self) -> tuple[str, float]:
        """Once the same thing has been missing for a while on a synced connection: (what, how long).

        Asking again for what was asked for last time, and still missing, waits twice as long.
        """
        last: object = None
        while True:
            await asyncio.sleep(self._wait)
            key = self._missing_key() if self.live else None
            if key is None:
                self._wait = self.ask_wait
                self._asked_for = None
            elif key == last:
                waited = self._wait
                if key == self._asked_for:
                    self._wait = min(self._wait * 2, MAX_ASK_WAIT)
                self._asked_for = key
                return self.missing() or "entries are missing", waited
            last = key

    # -- what the connection says ---------------------------------------------------------------

    def synced(self, head: int) -> None:
        self.head = head
        self.live = True

    def disconnected(self) -> None:
        self.live = False

    def acked(self, seq: int, envelope: bytes | None = None) -> None:
        """Our own update is stored as entry ``seq`` (the document has it: we made it)."""
        self.seen.saw(seq)
        if envelope is not None:
            self.hash.entry(seq, envelope)

    # -- entries ----------------------------------------------------------------------------------

    def entry(self, seq: int, data: bytes) -> None:
        try:
            env = parse_envelope(data)
        except EnvelopeError as exc:
            self.hash.entry(seq, data)
            self._refuse(seq, "unknown", exc)
            return
        if env.type is EnvelopeType.SNAPSHOT:
            self._snapshot(seq, env)
            return
        self.hash.entry(seq, data)
        if self.seen.has(seq):
            return  # the same hub entry again (history overlapping a resume): not a replay
        kind = env.type.name.lower()
        if env.type is not EnvelopeType.UPDATE:
            self._refuse(seq, kind, EnvelopeError(f"a {kind} envelope has no place in the room log"))
            return
        try:
            opened = open_envelope(self._keys_for(seq, env), env)
            pycrdt.get_state(opened.plaintext)  # a signed but undecodable update must not half-apply
            ready = self.guard.admit(seq, opened)
        except ReplayedEnvelope as exc:
            self.seen.saw(seq)  # what it carries is in the document (or held) already
            self.reject(seq, kind, exc)
            return
        except EnvelopeError as exc:
            self._refuse(seq, kind, exc)
            return
        except Exception as exc:  # pycrdt refused the plaintext: a writer sent garbage
            self._refuse(seq, kind, ValueError(f"not a Yjs update: {exc}"))
            return
        self._apply_all(ready)

    def _apply_all(self, ready: list[Held]) -> None:
        applied = 0
        for item in ready:
            try:
                self.apply(item.opened.plaintext)
            except Exception as exc:
                self._refuse(item.seq, "update", ValueError(f"not a Yjs update: {exc}"))
                continue
            self.seen.saw(item.seq)
            applied += 1
        # Counted (and maybe compacted) only once all are in: the guard's heads already name the
        # last one released, so a snapshot in between would claim an update its state lacks.
        for _ in range(applied):
            self.on_update()

    def check_hash(self, seq: int, digest: bytes, what: str) -> bool:
        """Compare a hash someone committed to at ``seq`` with ours; False (and said) when they differ."""
        mine = self.hash.at(seq)
        if mine is None or mine[: len(digest)] == digest:
            return True
        if self.on_fork is not None:
            self.on_fork(f"{what} at seq {seq} was shown another log than this client (log code here "
                         f"{self.hash.code}): the hub may be showing members different histories")
        return False

    def _snapshot(self, seq: int, env: Envelope) -> None:
        if seq <= self.since:
            if seq <= self.hash.seq:
                self._check_snapshot_hash(seq, env)
            return  # the document holds everything it covers
        try:
            opened = open_envelope(self._keys_for(seq, env), env)
            if opened.ref != seq:
                raise EnvelopeError(f"the hub labelled a snapshot covering {opened.ref} as seq {seq}")
            state, heads = decode_snapshot(opened.plaintext)
            pycrdt.get_state(state)
            self.guard.check(opened)
            self.apply(state)
            self.guard.load(heads)
        except EnvelopeError as exc:
            self._refuse_snapshot(seq, exc)
            return
        except Exception as exc:
            self._refuse_snapshot(seq, ValueError(f"unusable snapshot: {exc}"))
            return
        self.seen.advance(seq)
        self.rejected = {s for s in self.rejected if s > seq}
        committed = snapshot_log_hash(opened.plaintext)
        if committed is not None:
            self.check_hash(seq, committed, "a snapshot")
        self.hash.start_at(seq, committed)
        self.counter.since = 0
        ready, covered = self.guard.release()
        for item in covered:
            self.seen.saw(item.seq)  # the snapshot's heads say it is in the state just applied
        self._apply_all(ready)

    def _keys_for(self, seq: int, env: Envelope) -> RoomKeys:
        keys = self.keyring.for_entry(seq, env.epoch)
        if keys is None:
            current = self.keyring.epoch
            if env.epoch < current:
                why = "after the rotation that ended it (a removed member's, or replayed)"
                if env.epoch not in self.keyring.past:
                    why = "and this client does not have that epoch's keys"
                raise WrongEpoch(f"entry {seq} is of key epoch {env.epoch}, {why}")
            raise WrongEpoch(f"entry {seq} is of key epoch {env.epoch}; this client is at epoch {current}")
        return keys

    def _check_snapshot_hash(self, seq: int, env: Envelope) -> None:
        try:
            keys = self._keys_for(seq, env)
            committed = snapshot_log_hash(open_envelope(keys, env).plaintext)
        except EnvelopeError:
            return
        if committed is not None:
            self.check_hash(seq, committed, "a snapshot")

    def _refuse(self, seq: int, kind: str, exc: Exception) -> None:
        self.seen.saw(seq)
        self.rejected.add(seq)
        self.reject(seq, kind, exc)

    def _refuse_snapshot(self, seq: int, exc: Exception) -> None:
        # The entries it replaces are gone from the hub: nothing to ask for, and nothing to compact.
        self.seen.advance(seq)
        self.rejected.add(seq)
        self.reject(seq, "snapshot", exc)
