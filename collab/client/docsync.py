"""The document side of a provider: local transactions out, the hub's updates in, never echoed."""

from __future__ import annotations

from typing import Any, Callable

import pycrdt

EMPTY_UPDATE = b"\x00\x00"  # a transaction that changed nothing


class LocalUpdates:
    """Calls ``on_local(update)`` at the end of each local transaction that changed something.

    Updates applied with ``apply_remote`` come from the hub: they are not local, so they are never
    sent back.
    """

    def __init__(self, doc: pycrdt.Doc[Any], on_local: Callable[[bytes], None]) -> None:
        self.doc = doc
        self.on_local = on_local
        self._applying_remote = False
        self._sub: pycrdt.Subscription | None = None

    def start(self) -> None:
        if self._sub is None:
            self._sub = self.doc.observe(self._on_transaction)

    def stop(self) -> None:
        if self._sub is not None:
            self.doc.unobserve(self._sub)
            self._sub = None

    def apply_remote(self, update: bytes) -> None:
        self._applying_remote = True
        try:
            self.doc.apply_update(update)
        finally:
            self._applying_remote = False

    def _on_transaction(self, event: pycrdt.TransactionEvent) -> None:
        if self._applying_remote or event.update == EMPTY_UPDATE:
            return
        self.on_local(event.update)
