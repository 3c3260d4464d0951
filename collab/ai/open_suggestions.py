"""The suggestions an agent keeps honest: from streaming until someone decides, each one's region.

The agent watches the anchor's line of each suggestion it wrote (and, on start, of those it finds
ready). An edit there from any participant (the web page, a ``collab join`` folder, an API
client) cancels the stream, or turns a ready suggestion ``stale`` for everyone, so nobody accepts
code written for text that is gone. The regions themselves are collab/ai/suggestions.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pycrdt

from collab.ai.suggestions import STALE_WHEN_READY, Region, Watch
from collab.workspace import Workspace

# Runs a callback with a key after the current transaction (observers cannot write or unobserve).
Later = Callable[[Callable[[str], None], str], None]


@dataclass
class OpenSuggestion:
    """A suggestion the agent watches: streaming (``stop`` cancels its model stream) or ready."""

    entry: pycrdt.Map[Any]
    watch: Watch
    stop: Callable[[str], None] | None = None


class OpenSuggestions:
    def __init__(self, ws: Workspace, agent_id: str, later: Later) -> None:
        self.ws = ws
        self.agent_id = agent_id
        self._later = later
        self._open: dict[str, OpenSuggestion] = {}

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self._open)

    def __contains__(self, suggestion_id: str) -> bool:
        return suggestion_id in self._open

    def watch(
        self,
        suggestion_id: str,
        entry: pycrdt.Map[Any],
        ytext: pycrdt.Text,
        region: Region,
        stop: Callable[[str], None] | None = None,
    ) -> OpenSuggestion:
        """Watch a suggestion's region from now until it closes; ``stop`` cancels its stream meanwhile.

        The region is made from the text as it is now and follows every later edit, so nothing
        may await between reading the text and this call.
        """
        self.unwatch(suggestion_id)
        watch = Watch(
            ytext,
            region,
            entry,
            on_edit=lambda: self._edited(suggestion_id),
            on_entry=lambda: self._entry_changed(suggestion_id),
        )
        opened = self._open[suggestion_id] = OpenSuggestion(entry, watch, stop)
        return opened

    def unwatch(self, suggestion_id: str) -> None:
        opened = self._open.pop(suggestion_id, None)
        if opened is not None:
            opened.watch.close()

    def deleted(self, suggestion_id: str) -> None:
        """The entry left the shared map (called inside that transaction)."""
        if suggestion_id in self._open:
            self._later(self.unwatch, suggestion_id)

    def close(self) -> None:
        for suggestion_id in list(self._open):
            self.unwatch(suggestion_id)

    def _edited(self, suggestion_id: str) -> None:
        """Someone (anyone: browser, ``collab join``, API client) edited inside the region."""
        opened = self._open.get(suggestion_id)
        if opened is None:
            return
        if opened.stop is not None:
            opened.stop("stale")
        else:
            self._later(self._mark_stale, suggestion_id)

    def _entry_changed(self, suggestion_id: str) -> None:
        opened = self._open.get(suggestion_id)
        if opened is None:
            return
        entry = opened.entry
        if opened.stop is not None:
            if entry.get("agent") != self.agent_id:
                opened.stop("superseded")
            elif entry.get("status") != "streaming":
                opened.stop(str(entry.get("status")))
        elif entry.get("status") != "ready":  # accepted, rejected, or marked stale by someone
            self._later(self.unwatch, suggestion_id)

    def _mark_stale(self, suggestion_id: str) -> None:
        opened = self._open.get(suggestion_id)
        if opened is None:
            return
        # Checked now, not when the edit was seen: an accept inserts its text inside the region in
        # the same transaction as its status, and must stay accepted.
        if opened.entry.get("status") == "ready" and self.ws.suggestions.get(suggestion_id) is not None:
            self.ws.set_suggestion_status(opened.entry, "stale", error=STALE_WHEN_READY)
        self.unwatch(suggestion_id)
