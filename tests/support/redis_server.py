"""Real redis-server processes for tests: each on its own free port with its own directory.

Never the machine's 6379: tests kill and restart these, and parallel workers must not share one.
The ``redis_server`` fixture (tests/conftest.py) gives a test one; ``running_cluster`` builds a
Redis Cluster of them.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Iterator

from tests.support.ports import bindable, free_port
from tests.support.waiting import eventually_sync


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too, so at most 55535.

    Taken from the kernel like every other port here, not picked at random: a random pick can land
    on a port another test (or xdist worker) was just handed and has not bound yet."""
    for _ in range(1000):
        port = free_port()
        if port <= 55535 and bindable(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def redis_available() -> str | None:
    """Why real Redis tests cannot run here, or None when they can."""
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install redis-server)"
    return None


class RedisServer:
    def __init__(self, directory: Path, *, port: int = 0, appendfsync: str = "always", cluster: bool = False) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or (free_cluster_port() if cluster else free_port())
        self.appendfsync = appendfsync
        self.cluster = cluster
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> "RedisServer":
        args = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
            "--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", "",
            "--protected-mode", "no", "--logfile", str(self.dir / "redis.log"),
        ]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", str(self.dir / "nodes.conf"),
                     "--cluster-node-timeout", "2000"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            eventually_sync(self._answers, timeout, interval=0.05, what="redis-server answering PING")
        except AssertionError:
            raise RuntimeError("redis-server did not answer:\n" + self.log()) from None
        return self

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError("redis-server exited:\n" + self.log())
        return self.cli("ping", check=False).strip() == "PONG"

    def cli(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, timeout=10, check=False
        )
        if check and done.returncode != 0:
            raise RuntimeError(done.stderr)
        return done.stdout

    def log(self) -> str:
        path = self.dir / "redis.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def running_redis(directory: Path, *, appendfsync: str = "always") -> Iterator[RedisServer]:
    """A started redis-server in ``directory`` on a free port, stopped on exit."""
    server = RedisServer(directory, appendfsync=appendfsync).start()
    try:
        yield server
    finally:
        server.stop()


def cluster_ok(nodes: list[RedisServer]) -> bool:
    return all("cluster_state:ok" in n.cli("cluster", "info", check=False) for n in nodes)


def _replicas_in_sync(nodes: list[RedisServer], replicas: int) -> bool:
    roles = [n.cli("info", "replication", check=False) for n in nodes]
    attached = [r for r in roles if "role:slave" in r]
    return len(attached) == replicas and all("master_link_status:up" in r for r in attached)


@contextlib.contextmanager
def running_cluster(directory: Path, masters: int, replicas_per_master: int = 0) -> Iterator[list[RedisServer]]:
    """A real Redis Cluster on loopback ports, ready (slots covered, every replica in sync)."""
    nodes = [RedisServer(directory / f"node{i}", cluster=True) for i in range(masters * (1 + replicas_per_master))]
    try:
        for node in nodes:
            node.start()
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in nodes),
             "--cluster-replicas", str(replicas_per_master), "--cluster-yes"],
            check=True, capture_output=True, timeout=30,
        )
        try:
            eventually_sync(
                lambda: cluster_ok(nodes) and _replicas_in_sync(nodes, masters * replicas_per_master),
                timeout=30, interval=0.1, what="cluster ok with every replica in sync",
            )
        except AssertionError:
            raise RuntimeError("the cluster did not become ok") from None
        yield nodes
    finally:
        for node in nodes:
            node.stop()
