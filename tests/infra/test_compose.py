"""docker-compose.yml read, without Docker (test_compose_real.py runs it): it agrees with the code
it runs: the hub command parses with the real `collab serve`, every COLLAB_* variable is a setting,
ports, health checks and the load balancer's upstreams line up, Redis is configured durable, and
every image is built from the one base the real test can reproduce."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from collab.cli import build_parser
from collab.config import Settings, env_name, load_settings
from collab.hub.agents import TOKEN_ENV as AGENT_TOKEN_ENV

yaml = pytest.importorskip("yaml", reason="PyYAML reads docker-compose.yml (test extra)")

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def hubs(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if svc.get("command", [])[:2] == ["collab", "serve"]}


def serve_help() -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    return out.getvalue()


def test_services_are_redis_two_hubs_and_a_tls_load_balancer(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"redis", "caddy"} <= set(services)
    assert len(hubs(compose)) >= 2
    assert services["caddy"]["ports"] == ["${COLLAB_PUBLISHED_PORT:-443}:443"]
    assert "tls internal" in (INFRA / "Caddyfile").read_text()
    for volume in ("redis-data", "caddy-data"):
        assert volume in compose["volumes"]


def test_hub_commands_and_environment_are_what_collab_serve_accepts(compose: dict[str, Any]) -> None:
    help_text = serve_help()
    settings_env = {env_name(f.name) for f in fields(Settings)}
    for name, hub in hubs(compose).items():
        command = hub["command"]
        assert command[:2] == ["collab", "serve"], name
        args = build_parser().parse_args(command[1:])  # SystemExit here means a flag collab does not know
        for flag in (a for a in command[2:] if a.startswith("--")):
            assert flag in help_text, f"{name}: {flag} is not in `collab serve --help`"
        env = {k: str(v) for k, v in hub["environment"].items()}
        # COLLAB_AGENT_TOKEN is read by the agent directory (collab/hub/agents.py), not a Settings
        # field; FORWARDED_ALLOW_IPS by uvicorn (whose proxy headers to believe).
        known = settings_env | {AGENT_TOKEN_ENV, "FORWARDED_ALLOW_IPS"}
        assert set(env) <= known, f"{name}: unknown variables {set(env) - known}"
        # Behind Caddy every request comes from Caddy's address: the hub must read the client's
        # from X-Forwarded-For, or all users share one per-client limit. Only safe unpublished.
        assert env["FORWARDED_ALLOW_IPS"] == "*" and "ports" not in hub, name
        overrides = {k: v for k, v in vars(args).items() if k in ("host", "port") and v is not None}
        settings = load_settings(overrides, environ=env)
        assert settings.redis_url == "redis://redis:6379/0"
        assert settings.host == "0.0.0.0" and settings.port == 8000
        healthcheck = " ".join(hub["healthcheck"]["test"])
        assert f"127.0.0.1:{settings.port}/healthz" in healthcheck
        assert hub["depends_on"]["redis"]["condition"] == "service_healthy"


def test_load_balancer_upstreams_are_the_hubs_on_their_ports(compose: dict[str, Any]) -> None:
    upstreams = compose["services"]["caddy"]["environment"]["COLLAB_UPSTREAMS"].split()
    expected = [f"{name}:{hub['command'][hub['command'].index('--port') + 1]}" for name, hub in hubs(compose).items()]
    assert sorted(upstreams) == sorted(expected)
    caddyfile = (INFRA / "Caddyfile").read_text()
    default = re.search(r"\{\$COLLAB_UPSTREAMS:([^}]*)\}", caddyfile)
    assert default is not None and sorted(default.group(1).split()) == sorted(expected)
    assert "health_uri /healthz" in caddyfile
    assert "./infra/Caddyfile:/etc/caddy/Caddyfile:ro" in compose["services"]["caddy"]["volumes"]


def test_redis_is_durable_and_where_the_hubs_look(compose: dict[str, Any]) -> None:
    conf = dict(
        line.split(None, 1) for line in (INFRA / "redis.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert conf["appendonly"] == "yes"
    assert conf["appendfsync"] in ("always", "everysec")
    assert conf["maxmemory-policy"] == "noeviction"
    assert conf["port"] == "6379"
    redis = compose["services"]["redis"]
    assert redis["command"] == ["redis-server", "/usr/local/etc/redis/redis.conf"]
    assert "./infra/redis.conf:/usr/local/etc/redis/redis.conf:ro" in redis["volumes"]
    assert "redis-data:/data" in redis["volumes"]


def test_dockerfile_runs_collab_serve_on_the_port_compose_uses() -> None:
    dockerfile = (INFRA / "Dockerfile").read_text()
    assert "EXPOSE 8000" in dockerfile
    assert 'CMD ["collab", "serve"]' in dockerfile
    env = dict(item.split("=", 1) for line in dockerfile.splitlines() if line.startswith("ENV COLLAB_")
               for item in shlex.split(line[4:]))
    settings = load_settings(environ=env)
    assert settings.port == 8000 and settings.host == "0.0.0.0"


def test_agent_service_reaches_both_hubs_through_caddy_with_the_model_from_the_environment(compose: dict[str, Any]) -> None:
    from collab.ai.backend import load_backend

    agent = compose["services"]["agent"]
    command = agent["command"]
    assert command[:3] == ["collab", "agent", "--serve"]
    args = build_parser().parse_args(command[1:])
    assert args.serve and args.link is None
    # Not one hub: the load balancer's internal plain-http listener, which proxies to all of them.
    host, port = args.hub.removeprefix("http://").split(":")
    caddy = compose["services"]["caddy"]
    assert host == "caddy" and port == caddy["environment"]["COLLAB_INTERNAL_PORT"]
    assert agent["depends_on"] == {"caddy": {"condition": "service_started"}}
    assert not any(str(p).split(":")[-1] == port for p in caddy["ports"])  # never published
    caddyfile = (INFRA / "Caddyfile").read_text()
    internal = re.search(r"^http://:\{\$COLLAB_INTERNAL_PORT:(\d+)\} \{\n(.*?)^\}", caddyfile, re.M | re.S)
    assert internal is not None and internal.group(1) == port
    assert "import hubs" in internal.group(2)  # the same upstreams and health checks as the TLS site
    tls_site = re.search(r"^\{\$COLLAB_SITE:localhost\} \{\n(.*?)^\}", caddyfile, re.M | re.S)
    assert tls_site is not None and "import hubs" in tls_site.group(1)
    env = agent["environment"]
    default = re.fullmatch(r"\$\{COLLAB_AGENT_MODEL:-([^}]*)\}", env["COLLAB_AGENT_MODEL"])
    assert default is not None
    assert load_backend(default.group(1)).spec == "builtin"  # works with no key and no network
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "COLLAB_AGENT_TOKEN"):
        assert name in env
    assert env["COLLAB_AGENT_TOKEN"] == compose["services"]["hub-a"]["environment"]["COLLAB_AGENT_TOKEN"]
    assert "agent-data:/var/lib/collab" in agent["volumes"] and env["COLLAB_DATA"] == "/var/lib/collab"
    assert agent["healthcheck"] == {"disable": True}


def test_ollama_is_optional_behind_a_profile_and_where_the_agent_looks(compose: dict[str, Any]) -> None:
    ollama = compose["services"]["ollama"]
    assert ollama["profiles"] == ["ollama"]
    assert "ollama-data:/root/.ollama" in ollama["volumes"] and "ollama-data" in compose["volumes"]
    assert compose["services"]["agent"]["environment"]["OLLAMA_HOST"].endswith("http://ollama:11434}")
    assert "ollama" not in compose["services"]["agent"].get("depends_on", {})  # the default stack runs without it


def test_every_image_is_built_from_debian_bookworm_slim_with_the_args_its_dockerfile_takes(compose: dict[str, Any]) -> None:
    built = {name: svc["build"] for name, svc in compose["services"].items() if "build" in svc}
    assert set(built) >= {"redis", "hub-a", "hub-b", "caddy"}
    for name, build in built.items():
        dockerfile = (ROOT / build["context"] / build["dockerfile"]).read_text()
        bases = re.findall(r"^FROM (\S+)", dockerfile, re.M)
        assert bases and all(base == "debian:bookworm-slim" for base in bases), name
        declared = set(re.findall(r"^ARG (\w+)", dockerfile, re.M))
        assert set(build.get("args", {})) <= declared, name
    hub = (INFRA / "Dockerfile").read_text()
    # The build CA is copied into the build stage only; the final stage takes /opt/collab from it.
    final = hub.split("\nFROM debian:bookworm-slim\n")[-1]
    assert "BUILD_CA" not in final and "COPY --from=build /opt/collab /opt/collab" in final
    assert (INFRA / "build-ca" / "none.pem").read_bytes() == b""
