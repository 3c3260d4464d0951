"""Docker for the compose test: a running dockerd, and the one base image the compose stack builds
from (debian:bookworm-slim), made locally from Debian's packages when Docker Hub cannot be reached.

The stand-in is what the official image is: a debootstrap `minbase` root file system of bookworm
(the official one is made by debuerreotype from the same packages), with the official image's
`slim` trimming (no docs, man pages or locales, through dpkg path excludes), its apt settings (no
translations, gzipped indexes, no package cache), its sources (bookworm, bookworm-updates,
bookworm-security, deb822) and its CMD. It is built once and then found by `docker image
inspect`, so later runs reuse it from /var/lib/docker."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

BASE = "debian:bookworm-slim"
SOCKET = Path("/var/run/docker.sock")
MIRROR = "http://deb.debian.org/debian"
STANDIN_LABEL = 'org.collab.standin="debootstrap bookworm minbase"'

# The official slim image's dpkg excludes (debuerreotype's --slim), so what apt installs later is
# trimmed the same way.
DPKG_SLIM = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
"""
SOURCES = """\
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
APT_CLEAN = """\
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
"""
APT_NO_LANGUAGES = 'Acquire::Languages "none";\n'
APT_GZIP_INDEXES = 'Acquire::GzipIndexes "true";\n'


def docker_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def missing_tools() -> list[str]:
    return [tool for tool in ("docker", "dockerd", "docker-compose", "debootstrap") if shutil.which(tool) is None]


@contextlib.contextmanager
def dockerd(log: Path, *, timeout: float = 60) -> Iterator[None]:
    """A dockerd for the duration: the one already running, or one started here (as root, logging
    to ``log``) and stopped afterwards. Images and volumes stay in /var/lib/docker either way."""
    if docker_answers():
        yield
        return
    if os.geteuid() != 0:
        raise RuntimeError("no dockerd is running and starting one needs root")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(["dockerd"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not (SOCKET.exists() and docker_answers()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start (exit {proc.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def image_exists(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def ensure_base(log: Path) -> str:
    """Make sure ``debian:bookworm-slim`` exists; return 'cached' or how long building it took."""
    if image_exists(BASE):
        return "cached"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="collab-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        with log.open("ab") as out:
            subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(root), MIRROR],
                           stdout=out, stderr=subprocess.STDOUT, check=True)
        import_rootfs(root)
    return f"built in {time.monotonic() - started:.0f} s"


def import_rootfs(root: Path) -> None:
    """Trim a debootstrap root the way the official slim image is, and import it as BASE."""
    (root / "etc/dpkg/dpkg.cfg.d/docker").write_text(DPKG_SLIM)
    (root / "etc/apt/apt.conf.d/docker-clean").write_text(APT_CLEAN)
    (root / "etc/apt/apt.conf.d/docker-no-languages").write_text(APT_NO_LANGUAGES)
    (root / "etc/apt/apt.conf.d/docker-gzip-indexes").write_text(APT_GZIP_INDEXES)
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(SOURCES)
    for trimmed in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/groff"):
        for child in (root / trimmed).glob("*"):
            if trimmed == "usr/share/doc" and child.is_dir():
                for item in child.iterdir():
                    if item.name != "copyright":
                        shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()
            elif child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for item in (root / cache).glob("*"):
            if item.is_file():
                item.unlink()
    tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(["docker", "import", "--change", 'CMD ["bash"]', "--change", f"LABEL {STANDIN_LABEL}", "-", BASE],
                   stdin=tar.stdout, capture_output=True, check=True)
    assert tar.stdout is not None
    tar.stdout.close()
    if tar.wait() != 0:
        raise RuntimeError("tar of the bookworm root file system failed")
