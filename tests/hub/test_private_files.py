"""What the hub keeps on disk is readable by its own user only (issue 13: the SQLite file was 0644).

Another local user must not read room logs, not even plaintext ones: the data directory the hub
creates is 0700 and the database with its -wal and -shm files 0600, whatever the umask lets through.
An existing database from an older hub is tightened when the hub opens it.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.support.hub_process import HubProcess


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The usual 022: files readable by everyone unless the hub asks for less."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def write_something(hub: HubProcess) -> None:
    reply = httpx.post(f"{hub.url}/api/rooms", json={"room": "private-notes"})
    assert reply.status_code == 201, reply.text


def test_a_data_dir_the_hub_creates_is_0700_and_its_database_files_0600(tmp_path: Path, permissive_umask: None) -> None:
    data = tmp_path / "fresh" / "data"
    hub = HubProcess(data).start()
    try:
        write_something(hub)
        db = data / "collab.sqlite3"
        files = [db, data / "collab.sqlite3-wal", data / "collab.sqlite3-shm"]
        assert all(f.exists() for f in files), sorted(p.name for p in data.iterdir())
        assert mode(data) == 0o700
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        hub.stop()


def test_a_database_left_readable_by_an_older_hub_is_made_private(tmp_path: Path, permissive_umask: None) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = data / "collab.sqlite3"
    sqlite3.connect(db).close()
    os.chmod(db, 0o644)
    hub = HubProcess(data).start()
    try:
        write_something(hub)
        assert mode(db) == 0o600
        assert mode(data / "collab.sqlite3-wal") == 0o600
    finally:
        hub.stop()
