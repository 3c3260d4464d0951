"""Helpers for the client tests: reading a hub's metrics, files by path in a raw document."""

from __future__ import annotations

from typing import Any

import pycrdt

from collab.workspace import Workspace
from tests.support.metrics import scrape


def metric(hub_url: str, name: str) -> float:
    """One unlabelled sample of the hub's /metrics (0 when it has none yet)."""
    return scrape(hub_url).get(name, 0.0)


class SchemaFiles:
    """A participant's files, read and written by path as schema 1's ``files`` map was
    (``files[path] = text``, ``files[path]`` (its Y.Text), ``del files[path]``), in a schema-2 room:
    the tests that write straight into the document (what any Yjs client may do) keep their shape.
    Made on a connected document, it migrates the room first, as every client does on opening it."""

    def __init__(self, doc: "pycrdt.Doc[Any]", user: str = "raw") -> None:
        self.ws = Workspace(doc, user=user)
        self.ws.migrate()

    def __setitem__(self, path: str, text: str) -> None:
        self.ws.write(path, text)

    def __getitem__(self, path: str) -> "pycrdt.Text":
        return self.ws.text(path)

    def __delitem__(self, path: str) -> None:
        self.ws.delete(path)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and path in self.ws

    def get(self, path: str, default: Any = None) -> Any:
        return self.ws.files.get(path, default)

    def keys(self) -> list[str]:
        return self.ws.paths()
