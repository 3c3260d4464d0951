"""What disk and session last agreed on, per file, recorded so that a ``kill -9`` at any moment leaves
no wrong base behind (a wrong base makes the next join set aside files nobody changed).

Two files in ``.collab/``:

- ``state.json``: the room, and per path its base as a short list of candidates (oldest first),
  rewritten atomically at most once a second (a full rewrite per keystroke would cost ~170 kB per
  flush for 2,000 files).
- ``journal``: one JSON line appended (one ``write``, O_APPEND) *before* each change it describes
  takes effect: before a session text is written to disk, before an edit of ours is committed to the
  document (so before it can reach the hub). ``state.json`` names the last line it includes; a
  later line is replayed on load. A kill between the line and the disk write leaves the old text on
  disk: the load keeps both candidates, and the disk matches one of them.

A base may depend on an edit of ours that the hub never got (offline, or killed before it was
sent): such a candidate carries the clock of that edit in our Yjs client, and counts only once the
session's state vector shows the hub has it. Otherwise a file edited here while the hub was away
would look untouched on the next join, and the session's older text would replace it.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

from collab.client.folderstate import STATE_DIR
from collab.client.reconcile import text_hash
from collab.protocol.yjs import read_var_uint

MAX_CANDIDATES = 8  # per path: the oldest (certain) one and the newest ones (offline edits)


@dataclass(frozen=True, slots=True)
class Candidate:
    hash: str
    need: int = 0  # 0: certain; else the clock of our own edit (of ``client``) it contains
    client: int = 0


@dataclass
class FolderState:
    room: str | None = None
    bases: dict[str, list[Candidate]] = field(default_factory=dict)
    seq: int = 0  # the last journal line included


def decode_state_vector(data: bytes) -> dict[int, int]:
    """A Yjs state vector (``Doc.get_state()``): client id -> the clock of the next item."""
    count, pos = read_var_uint(data, 0)
    out: dict[int, int] = {}
    for _ in range(count):
        client, pos = read_var_uint(data, pos)
        clock, pos = read_var_uint(data, pos)
        out[client] = clock
    return out


def candidates(state: FolderState, state_vector: dict[int, int]) -> dict[str, list[str]]:
    """Each path's base candidates (oldest first) that hold: certain, or with our edit on the hub."""
    out: dict[str, list[str]] = {}
    for path, chain in state.bases.items():
        valid = [c.hash for c in chain if c.need == 0 or state_vector.get(c.client, 0) >= c.need]
        if valid:
            out[path] = valid
    return out


def _candidate(item: object) -> Candidate | None:
    if isinstance(item, str):
        return Candidate(item)  # the format before candidates: one certain hash
    if isinstance(item, list) and len(item) == 3 and isinstance(item[0], str) and all(
        isinstance(x, int) for x in item[1:]
    ):
        return Candidate(item[0], item[1], item[2])
    return None


def load(root: Path) -> FolderState:
    """state.json with the journal lines written after it replayed on top."""
    state = _load_state(root)
    try:
        lines = (root / STATE_DIR / "journal").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut short (the disk filled up): the ones before it stand
        if not isinstance(entry, dict) or not isinstance(entry.get("n"), int) or entry["n"] <= state.seq:
            continue
        path, digest = entry.get("p"), entry.get("h")
        if not isinstance(path, str):
            continue
        state.seq = entry["n"]
        if digest is None:
            state.bases.pop(path, None)
            continue
        found = _candidate([digest, entry.get("k", 0), entry.get("c", 0)])
        if found is not None:
            state.bases[path] = _add(state.bases.get(path, []), found)
    return state


def _add(chain: list[Candidate], new: Candidate) -> list[Candidate]:
    if new.need == 0:
        return [new]
    chain = [*chain, new]
    return chain if len(chain) <= MAX_CANDIDATES else [chain[0], *chain[-(MAX_CANDIDATES - 1) :]]


def _load_state(root: Path) -> FolderState:
    try:
        data = json.loads((root / STATE_DIR / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return FolderState()
    if not isinstance(data, dict):
        return FolderState()
    room, bases, seq = data.get("room"), data.get("bases"), data.get("seq")
    chains: dict[str, list[Candidate]] = {}
    if isinstance(bases, dict):
        for path, value in bases.items():
            items = value if isinstance(value, list) and not _candidate(value) else [value]
            chain = [c for c in (_candidate(i) for i in items) if c is not None]
            if isinstance(path, str) and chain:
                chains[path] = chain
    return FolderState(room if isinstance(room, str) else None, chains, seq if isinstance(seq, int) else 0)


def dump(state: FolderState) -> str:
    bases = {p: [[c.hash, c.need, c.client] for c in chain] for p, chain in state.bases.items()}
    return json.dumps({"room": state.room, "seq": state.seq, "bases": bases}, sort_keys=True, indent=0)


def save(root: Path, text: str) -> None:
    """Write state.json atomically; never re-creates a folder that was deleted under us."""
    folder = root / STATE_DIR
    tmp = folder / f".state-{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, folder / "state.json")


class Journal:
    """``.collab/journal``: base changes appended one line each before they take effect."""

    def __init__(self, root: Path, seq: int) -> None:
        self.seq = seq
        self._fd: int | None = os.open(root / STATE_DIR / "journal", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def append(self, path: str, digest: str | None, need: int = 0, client: int = 0) -> None:
        if self._fd is None:
            return
        self.seq += 1
        entry: dict[str, object] = {"n": self.seq, "p": path, "h": digest}
        if need:
            entry.update(k=need, c=client)
        os.write(self._fd, (json.dumps(entry) + "\n").encode("utf-8", "surrogatepass"))

    def compacted(self) -> None:
        """state.json now holds every line written so far: start the journal over."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class BaseBook(Mapping[str, str]):
    """path -> the text disk and session last agreed on (read like a dict), with what it depends on.

    Every change is journaled first (``expect``) and takes effect in memory after (``settle_base``);
    ``agree`` does both when nothing happens in between. ``need`` is the clock of our own last edit
    of that path (0 when none): the base holds on the next join only once the hub has that edit."""

    def __init__(self, client: int) -> None:
        self.client = client
        self.journal: Journal | None = None
        self._chains: dict[str, list[tuple[str, str, int]]] = {}  # path -> [(text, hash, need)], oldest first

    def __getitem__(self, path: str) -> str:
        return self._chains[path][-1][0]

    def __iter__(self) -> Iterator[str]:
        return iter(self._chains)

    def __len__(self) -> int:
        return len(self._chains)

    def expect(self, path: str, text: str, need: int) -> str:
        """Journal that ``path`` is about to agree on ``text``; return its hash."""
        digest = self._hash(path, text)
        if self.journal is not None:
            self.journal.append(path, digest, need, self.client)
        return digest

    def settle_base(self, path: str, text: str, need: int, digest: str | None = None) -> None:
        entry = (text, digest or self._hash(path, text), need)
        chain = [entry] if need == 0 else [*self._chains.get(path, []), entry]
        if len(chain) > MAX_CANDIDATES:
            chain = [chain[0], *chain[-(MAX_CANDIDATES - 1) :]]
        self._chains[path] = chain

    def agree(self, path: str, text: str, need: int) -> None:
        self.settle_base(path, text, need, self.expect(path, text, need))

    def move(self, old: str, new: str, need: int) -> None:
        """``old``'s base becomes ``new``'s (a rename, on disk or in the session): journaled for
        ``new`` first, so a kill in between leaves a base under both names, never under none."""
        chain = self._chains.get(old)
        if chain is None:
            return
        self.agree(new, chain[-1][0], need)
        self.drop(old)

    def drop(self, path: str) -> None:
        """Forget ``path`` (journaled after the fact: a kill before it keeps the old base, which is
        what tells the next join that a file gone from the session was deleted there)."""
        if self._chains.pop(path, None) is not None and self.journal is not None:
            self.journal.append(path, None)

    def waiting(self) -> bool:
        """Some base still waits for an edit of ours to reach the hub."""
        return any(chain[-1][2] or len(chain) > 1 for chain in self._chains.values())

    def delivered(self, clock: int) -> None:
        """Every edit of ours up to ``clock`` is on the hub: bases that waited for them are certain."""
        for path, chain in self._chains.items():
            last = max((i for i, (_, _, need) in enumerate(chain) if need <= clock), default=None)
            if last is not None:
                text, digest, _ = chain[last]
                self._chains[path] = [(text, digest, 0), *chain[last + 1 :]]

    def state(self, room: str | None) -> FolderState:
        seq = self.journal.seq if self.journal is not None else 0
        bases = {p: [Candidate(d, n, self.client if n else 0) for _, d, n in chain] for p, chain in self._chains.items()}
        return FolderState(room, bases, seq)

    def texts(self) -> dict[str, str]:
        """hash -> text of every candidate (for three-way merges on the next join)."""
        return {digest: text for chain in self._chains.values() for text, digest, _ in chain}

    def _hash(self, path: str, text: str) -> str:
        chain = self._chains.get(path)
        if chain and chain[-1][0] is text:
            return chain[-1][1]  # the same text object: hash each text once (2,000 files, every second)
        return text_hash(text)
