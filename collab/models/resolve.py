"""``--model local:NAME`` / ``local:/path/model.gguf``: from the spec to a loaded LocalBackend.

Order matters: without the optional binding we say what to install before offering a download a
user could not use; a registry model that is not downloaded is offered for download on a terminal
and refused in one line elsewhere (a service must not block on a question nobody sees).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Callable

from collab.ai.backend import BackendSpecError
from collab.ai.fim import TEMPLATES
from collab.ai.local_backend import INSTALL_HINT, LocalBackend, LocalSettings
from collab.models import cache, registry
from collab.models.pull import PullError, pull

Ask = Callable[[str], bool]


def is_path(model: str) -> bool:
    return model.endswith(".gguf") or "/" in model or model.startswith(("~", "."))


def local_backend(model: str, settings: LocalSettings, *, ask: Ask | None = None,
                  models_url: str | None = None) -> LocalBackend:
    """The backend ``local:<model>`` names. Loading blocks (call it before the event loop starts)."""
    if not model:
        raise BackendSpecError(f"local needs a model: local:<name> ({', '.join(registry.names())}) "
                               "or local:/path/to/model.gguf")
    if importlib.util.find_spec("xllamacpp") is None:
        raise BackendSpecError(INSTALL_HINT)
    if is_path(model):
        return LocalBackend.at(Path(model).expanduser(), settings)
    entry = registry.find(model)
    if entry is None:
        raise BackendSpecError(f"no local model named {model!r}; known: {', '.join(registry.names())} "
                               "(or give local:/path/to/model.gguf)")
    path = cache.model_path(entry)
    if not path.is_file() and entry.sha256 is None:
        raise BackendSpecError(f"the local model {entry.name} is not downloaded, and its registry entry has no "
                               f"checksum yet: run `collab models pull {entry.name} --sha256 HEX` first")
    if not path.is_file():
        ask = ask if ask is not None else terminal_ask
        question = (f"{entry.name} is not downloaded yet (about {entry.approx_bytes / 1e6:,.0f} MB from "
                    f"{cache.base_url(models_url)}). Download it now?")
        if not ask(question):
            raise BackendSpecError(f"the local model {entry.name} is not downloaded: run "
                                   f"`collab models pull {entry.name}` first")
        try:
            path = pull(entry, models_url=models_url)
        except PullError as exc:
            raise BackendSpecError(str(exc)) from None
    return LocalBackend(path, name=entry.name, quantisation=entry.quantisation, fim_template=TEMPLATES[entry.fim],
                        settings=settings)


def terminal_ask(question: str) -> bool:
    """Yes only when a person at a terminal says so; never asks when stdin or stderr is not one."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline()
    except (OSError, KeyboardInterrupt):
        return False
    return answer.strip().lower() in ("y", "yes")
