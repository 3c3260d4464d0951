"""Where downloaded models live and where they come from.

The cache is the user's cache directory (platformdirs: ``~/.cache/collab/models`` on Linux), or
``COLLAB_MODELS_DIR`` (docker-compose.yml mounts one into the agent service). Downloads come from
Hugging Face, or from ``COLLAB_MODELS_URL`` / ``--models-url``: a mirror laid out like it
(``{base}/{repo}/resolve/main/{file}``), which the tests use for a local server.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir

from collab.config import env_name
from collab.models.registry import ModelEntry

DIR_ENV = env_name("models_dir")
URL_ENV = env_name("models_url")
HUGGING_FACE = "https://huggingface.co"
PARTIAL = ".part"


def models_dir() -> Path:
    return Path(os.environ.get(DIR_ENV) or Path(user_cache_dir("collab")) / "models")


def base_url(override: str | None = None) -> str:
    return (override or os.environ.get(URL_ENV) or HUGGING_FACE).rstrip("/")


def model_path(entry: ModelEntry, directory: Path | None = None) -> Path:
    return (directory or models_dir()) / entry.file


def partial_path(entry: ModelEntry, directory: Path | None = None) -> Path:
    """Bytes downloaded so far; renamed to the model's name once the checksum matched."""
    return (directory or models_dir()) / (entry.file + PARTIAL)


def is_downloaded(entry: ModelEntry, directory: Path | None = None) -> bool:
    return model_path(entry, directory).is_file()
