#!/usr/bin/env python3
"""Start the docker-compose topology from native binaries: redis-server, N hubs, Caddy in front.

For people without Docker, and for the tests. Needs redis-server and caddy on PATH
(Debian: apt-get install redis-server caddy) and collab importable by this Python.

    python infra/run-local.py                 # https://localhost:8443, Ctrl-C stops everything
    python infra/run-local.py --https-port 0  # a free port; the ready line says which
    python infra/run-local.py --agent         # also the AI agent service, as docker-compose.yml runs it

With --agent, `collab agent --serve` talks to the hubs through Caddy's internal plain-http listener
(127.0.0.1 here) like the compose `agent` service; its model comes from COLLAB_AGENT_MODEL
(default builtin), OPENAI_API_KEY / OPENAI_BASE_URL, as in compose.

When everything answers it prints one JSON line: {"url", "ca", "redis", "hubs": [{"url", "pid"}],
"internal" (Caddy's plain-http listener), "agent" ({"name", "pid", "log"} or null), ...}.
Browsers must trust "ca" (Caddy's local root certificate) for WebCrypto to work over https.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def last_lines(path: Path | None, count: int = 5) -> str:
    """The end of a part's log, so a failure says why without a trip to the file."""
    if path is None or not path.exists():
        return ""
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()][-count:]
    return f"; the end of {path}:\n    " + "\n    ".join(lines) if lines else ""


def wait_for(check, what: str, procs: list[subprocess.Popen[bytes]], timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"run-local: {proc.args[0]} exited with {proc.returncode} before {what}"
                                 + last_lines(getattr(proc, "log_path", None)))
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"run-local: timed out waiting for {what}")
        time.sleep(0.1)


def http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start_agent(name: str, hub: str, base: Path) -> dict[str, Any]:
    """The compose `agent` service: the model from the environment, builtin when none is set."""
    env = {**os.environ, "COLLAB_AGENT_MODEL": os.environ.get("COLLAB_AGENT_MODEL") or "builtin"}
    log_path = base / "agent.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "collab.cli", "agent", "--serve", "--hub", hub, "--name", name,
         "--data", str(base / "agent")],
        env=env, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT,
    )
    return {"proc": proc, "log": str(log_path)}


def agent_listed(hub: str, name: str) -> bool:
    try:
        with urllib.request.urlopen(f"{hub}/api/agents", timeout=2) as response:
            return any(a.get("name") == name for a in json.load(response).get("agents", ()))
    except (OSError, ValueError):
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--https-port", type=int, default=8443, help="TLS port of the load balancer (0: a free one)")
    parser.add_argument("--site", default="localhost", help="the name people open (default localhost)")
    parser.add_argument("--hubs", type=int, default=2, help="number of hub processes (default 2)")
    parser.add_argument("--dir", type=Path, help="where Redis, hubs and Caddy keep their files (default: a temp dir)")
    parser.add_argument("--appendfsync", choices=("always", "everysec"), default=None,
                        help="override infra/redis.conf's durability setting")
    parser.add_argument("--agent", action="store_true",
                        help="also run the AI agent service (collab agent --serve) through the load balancer")
    parser.add_argument("--agent-name", default="ai", help="the agent's name with --agent (default ai)")
    args = parser.parse_args()
    for tool in ("redis-server", "caddy"):
        if shutil.which(tool) is None:
            print(f"run-local: {tool} is not on PATH (Debian: apt-get install redis-server caddy)", file=sys.stderr)
            return 2
    # Absolute: redis-server resolves its --logfile after changing into --dir.
    base = (args.dir or Path(tempfile.mkdtemp(prefix="collab-local-"))).expanduser().resolve()
    base.mkdir(parents=True, exist_ok=True)
    https_port = args.https_port or free_port()
    internal_port = free_port()
    redis_port = free_port()
    procs: list[subprocess.Popen[bytes]] = []

    def stop(*_: object) -> None:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        (base / "redis").mkdir(exist_ok=True)
        redis_args = ["redis-server", str(INFRA / "redis.conf"), "--port", str(redis_port), "--bind", "127.0.0.1",
                      "--dir", str(base / "redis"), "--logfile", str(base / "redis" / "redis.log")]
        if args.appendfsync:
            redis_args += ["--appendfsync", args.appendfsync]
        procs.append(subprocess.Popen(redis_args, stdout=subprocess.DEVNULL))
        procs[-1].log_path = base / "redis" / "redis.log"  # type: ignore[attr-defined]
        redis_url = f"redis://127.0.0.1:{redis_port}/0"

        def redis_up() -> bool:
            with socket.create_connection(("127.0.0.1", redis_port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")

        wait_for(redis_up, "redis answered", procs)

        hubs = []
        for i in range(args.hubs):
            port = free_port()
            log = open(base / f"hub-{i}.log", "ab")
            proc = subprocess.Popen(
                # --allowed-hosts: requests come through Caddy with the Host people typed (the site).
                [sys.executable, "-m", "collab.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                 "--redis", redis_url, "--data", str(base / f"hub-{i}"), "--allowed-hosts", args.site],
                stdout=log, stderr=subprocess.STDOUT,
            )
            proc.log_path = base / f"hub-{i}.log"  # type: ignore[attr-defined]
            procs.append(proc)
            hubs.append({"url": f"http://127.0.0.1:{port}", "pid": proc.pid, "log": str(base / f"hub-{i}.log")})
        for hub in hubs:
            wait_for(lambda: http_ok(f"{hub['url']}/healthz"), f"hub {hub['url']} healthy", procs)

        caddy_env = {
            **os.environ,
            "COLLAB_SITE": args.site,
            "COLLAB_UPSTREAMS": " ".join(h["url"].removeprefix("http://") for h in hubs),
            "COLLAB_HTTPS_PORT": str(https_port),
            "COLLAB_INTERNAL_PORT": str(internal_port),
            "COLLAB_INTERNAL_BIND": "127.0.0.1",
            # Caddy keeps its CA and certificates under XDG dirs: keep them in our directory.
            "XDG_DATA_HOME": str(base / "caddy" / "data"),
            "XDG_CONFIG_HOME": str(base / "caddy" / "config"),
            "HOME": str(base / "caddy"),
        }
        caddy_log = open(base / "caddy.log", "ab")
        procs.append(subprocess.Popen(
            ["caddy", "run", "--config", str(INFRA / "Caddyfile"), "--adapter", "caddyfile"],
            env=caddy_env, stdout=caddy_log, stderr=subprocess.STDOUT,
        ))
        procs[-1].log_path = base / "caddy.log"  # type: ignore[attr-defined]
        ca = base / "caddy" / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        url = f"https://{args.site}:{https_port}"
        wait_for(ca.exists, "Caddy's local CA", procs)
        context = ssl.create_default_context(cafile=str(ca))
        wait_for(lambda: http_ok(f"{url}/healthz", context), f"{url}/healthz through Caddy", procs)
        internal = f"http://127.0.0.1:{internal_port}"
        wait_for(lambda: http_ok(f"{internal}/healthz"), f"{internal}/healthz through Caddy", procs)
        caddy = procs[-1]
        agent = None
        if args.agent:
            agent = start_agent(args.agent_name, internal, base)
            procs.append(agent["proc"])
            wait_for(lambda: agent_listed(internal, args.agent_name), f"agent {args.agent_name} listed", procs)
            agent = {"name": args.agent_name, "pid": agent["proc"].pid, "log": agent["log"]}
        print(json.dumps({"url": url, "ca": str(ca), "redis": redis_url, "redis_pid": procs[0].pid,
                          "hubs": hubs, "internal": internal, "agent": agent, "dir": str(base)}), flush=True)
        while all(p.poll() is None for p in (procs[0], caddy)):  # Redis and Caddy must live
            time.sleep(0.5)
        print("run-local: redis or caddy exited; stopping", file=sys.stderr)
        stop()
    except BaseException:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.kill()
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
