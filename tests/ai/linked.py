"""Several pycrdt Docs (and their Awareness) kept in sync in-process: peers of one room without a hub.

Core-logic tests use it to stand for participants; end-to-end tests use a real hub instead.
"""

from __future__ import annotations

from typing import Any

import pycrdt


class LinkedPeers:
    def __init__(self, count: int) -> None:
        self.docs = [pycrdt.Doc() for _ in range(count)]
        self.awareness = [pycrdt.Awareness(doc) for doc in self.docs]
        self._applying = False
        for doc in self.docs:
            doc.observe(lambda event, src=doc: self._relay(src, event.update))
        for aw in self.awareness:
            aw.observe(lambda topic, change, src=aw: self._relay_awareness(src, topic, change))

    def _relay(self, src: pycrdt.Doc, update: bytes) -> None:
        if self._applying:
            return  # an update we are relaying: the others get it from this loop already
        self._applying = True
        try:
            for doc in self.docs:
                if doc is not src:
                    doc.apply_update(update)
        finally:
            self._applying = False

    def _relay_awareness(self, src: pycrdt.Awareness, topic: str, change: tuple[Any, Any]) -> None:
        _, origin = change
        if topic != "update" or origin != "local":
            return
        update = src.encode_awareness_update([src.client_id])
        for aw in self.awareness:
            if aw is not src:
                aw.apply_awareness_update(update, "remote")
