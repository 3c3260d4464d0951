"""`docker compose up` for real: the stack of docker-compose.yml built and started by Docker (dockerd
started here when none runs; the debian:bookworm-slim base built from Debian's packages when Docker
Hub cannot be reached, tests/infra/docker_host.py), then used the way a self-hoster does, through
Caddy's TLS endpoint with Caddy's local CA trusted: a browser and a Python client share an
encrypted room and invite the agent service; a hub killed, Redis restarted and the whole stack
taken down and up again lose nothing acknowledged.

The image build gets the host's CA bundle as its build CA (the proxy in front of this machine
intercepts TLS, as corporate proxies do), and the final image must not contain it."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from tests.infra.docker_host import dockerd, ensure_base, missing_tools
from tests.support.waiting import eventually, eventually_sync

ROOT = Path(__file__).resolve().parents[2]
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_CA = ROOT / "infra" / "build-ca" / "host-ca.pem"
# One compose project per test process: two runs at once (two engineers, a CI clone next to a
# checkout) must not take each other's stack down. Images are shared, volumes are not.
PREFIX = "collabtest-"
PROJECT = f"{PREFIX}{os.getpid()}"
HEALTHY = ("redis", "hub-a", "hub-b", "caddy")
CADDY_ROOT = "/data/caddy/pki/authorities/local/root.crt"

pytestmark = [
    pytest.mark.timeout(1800),  # the first run builds the base and the images (several minutes)
    pytest.mark.skipif(bool(missing_tools()), reason=f"needs {', '.join(missing_tools())} (apt-get install docker.io docker-compose debootstrap)"),
]


def compose_command() -> list[str]:
    """Compose v2 (the docker CLI plugin) when installed, else Debian's docker-compose 1.29."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    env: dict[str, str]
    url: str
    ca: Path
    figures: dict[str, str] = field(default_factory=dict)

    def compose(self, *args: str, timeout: float = 900) -> str:
        done = subprocess.run([*compose_command(), "-p", PROJECT, *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise AssertionError(f"compose {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        return done.stdout

    def container(self, service: str) -> str:
        return self.compose("ps", "-q", service).strip()

    def exec_python(self, service: str, code: str) -> str:
        return docker("exec", self.container(service), "python", "-c", code)

    def up(self) -> float:
        """`up -d`, then until every service with a healthcheck reports healthy: seconds taken."""
        started = time.monotonic()
        try:
            self.compose("up", "-d")  # Compose 1.29 fails here when a dependency turns unhealthy
        except AssertionError as failed:
            raise AssertionError(f"{failed}\n{self.compose('logs', '--tail', '40')}") from None
        wait_healthy(self, started)
        return time.monotonic() - started

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, verify=ssl.create_default_context(cafile=str(self.ca)), timeout=30)


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


def health(stack: Stack, service: str) -> str:
    cid = stack.container(service)
    if not cid:
        return "absent"
    return docker("inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}", cid).strip()


def wait_healthy(stack: Stack, started: float, timeout: float = 180) -> None:
    while True:
        states = {service: health(stack, service) for service in HEALTHY}
        if all(state == "healthy" for state in states.values()):
            return
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not healthy after {timeout:.0f} s: {states}\n{stack.compose('logs', '--tail', '40')}")
        time.sleep(1)


def image_mb(name: str) -> float:
    return int(docker("image", "inspect", "-f", "{{.Size}}", name)) / 1e6


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("compose")
    with dockerd(Path("/var/log/collab-test-dockerd.log")):
        base = ensure_base(work / "debootstrap.log")
        shutil.copyfile(HOST_CA, BUILD_CA)
        port = free_port()
        env = {**os.environ, "COLLAB_BUILD_CA": str(BUILD_CA.relative_to(ROOT)), "COLLAB_PUBLISHED_PORT": str(port)}
        s = Stack(env=env, url=f"https://localhost:{port}", ca=work / "caddy-root.crt")
        try:
            remove_stale_projects(env)
            started = time.monotonic()
            s.compose("build")
            built = time.monotonic() - started
            up = s.up()
            s.figures.update({
                "debian:bookworm-slim base": base,
                "build (all images)": f"{built:.0f} s",
                "up -d to all healthy": f"{up:.1f} s",
                **{f"image {name}": f"{image_mb(name):.0f} MB" for name in ("collab-hub", "collab-redis", "collab-caddy", "debian:bookworm-slim")},
            })
            print("\ncompose figures: " + "; ".join(f"{k}: {v}" for k, v in s.figures.items()))
            caddy = s.container("caddy")
            eventually_sync(lambda: subprocess.run(["docker", "cp", f"{caddy}:{CADDY_ROOT}", str(s.ca)], capture_output=True).returncode == 0,
                            30, 0.5, "Caddy's root certificate")
            yield s
        finally:
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                s.compose("down", "-v", "--remove-orphans", timeout=120)
            BUILD_CA.unlink(missing_ok=True)


def remove_stale_projects(env: dict[str, str]) -> None:
    """Take down what an interrupted earlier run left (its process is gone)."""
    labels = docker("ps", "-a", "--format", '{{.Label "com.docker.compose.project"}}').split()
    for project in {p for p in labels if p.startswith(PREFIX) and p.removeprefix(PREFIX).isdigit()}:
        pid = int(project.removeprefix(PREFIX))
        if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
            subprocess.run([*compose_command(), "-p", project, "down", "-v", "--remove-orphans"], cwd=ROOT, env=env,
                           capture_output=True, timeout=120)


def pem_blocks(text: str) -> set[str]:
    return set(re.findall(r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----", text, re.S))


def test_the_images_build_from_debian_and_the_build_ca_stays_out_of_them(stack: Stack, tmp_path: Path) -> None:
    for name in ("collab-hub", "collab-redis", "collab-caddy"):
        history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", name)
        assert "host-ca.pem" not in history and "pip-build-ca" not in history, name
    # The certificates the host trusts beyond Debian's ca-certificates package: the proxy's CA
    # (update-ca-certificates adds /usr/local/share/ca-certificates to the bundle). The build could
    # not have reached PyPI without it; the final image must hold none of them, in any file.
    debian = set().union(*(pem_blocks(p.read_text()) for p in Path("/usr/share/ca-certificates").rglob("*.crt")))
    extra = pem_blocks(HOST_CA.read_text()) - debian
    assert extra, "the host trusts no CA beyond Debian's: this check would prove nothing"
    bodies = {"\n".join(block.splitlines()[1:-1]).encode() for block in extra}
    cid = docker("create", "collab-hub").strip()
    try:
        exported = tmp_path / "hub.tar"
        docker("export", "-o", str(exported), cid)
        with tarfile.open(exported) as tar:
            names = set(tar.getnames())
            assert not names & {"etc/pip.conf", "etc/pip-build-ca.pem", "tmp/build-ca.pem"}, names & {"etc/pip.conf"}
            for member in tar:
                if member.isfile() and member.size < 50_000_000:
                    handle = tar.extractfile(member)
                    assert handle is not None
                    content = handle.read()
                    assert not any(body in content for body in bodies), f"{member.name} holds the build CA"
    finally:
        docker("rm", cid)
    env = docker("image", "inspect", "-f", "{{json .Config.Env}}", "collab-hub")
    assert "PIP_" not in env and "BUILD_CA" not in env


@contextlib.asynccontextmanager
async def browser_trusting(ca: Path, home: Path) -> Any:
    """Chromium with Caddy's root certificate in its NSS store (what importing it into the
    browser's trust store does), not with certificate errors ignored."""
    from playwright.async_api import async_playwright

    from tests.web.browser import CHROMIUM, CHROMIUM_ARGS

    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "collab-caddy", "-i", str(ca)], check=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env={**os.environ, "HOME": str(home)})
        try:
            yield browser
        finally:
            await browser.close()


def connections(stack: Stack, hub: str) -> float:
    metrics = stack.exec_python(hub, "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/metrics').read().decode())")
    found = re.search(r"^collab_connections (\S+)$", metrics, re.M)
    assert found, metrics[-2000:]
    return float(found.group(1))


async def test_a_browser_and_a_python_client_share_a_room_through_caddy_and_keep_it(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.async_api import expect

    from collab.client.session import Session
    from tests.web.browser import browser_unavailable, create_file, new_page, start_session, type_in_editor

    if (why := browser_unavailable()) or shutil.which("certutil") is None:
        pytest.skip(why or "certutil is not installed (apt-get install libnss3-tools)")
    monkeypatch.setenv("SSL_CERT_FILE", str(stack.ca))  # the Python client trusts Caddy's CA
    async with stack.http() as http:
        listing: list[dict[str, Any]] = []

        async def agent_listed() -> bool:
            listing[:] = (await http.get("/api/agents")).json()["agents"]
            return any(a["name"] == "ai" for a in listing)

        await eventually(agent_listed, 60)
        (agent,) = [a for a in listing if a["name"] == "ai"]
        assert agent["backend"] == "builtin"

    async with browser_trusting(stack.ca, tmp_path / "home") as browser:
        page = await new_page(browser, stack.url)
        link = await start_session(page, "Ada")
        assert link.startswith(stack.url) and "#" in link  # an encrypted room, its key in the fragment
        await create_file(page, "notes.md")
        await type_in_editor(page, "ada 1\n")
        editor = page.locator(".cm-content")
        async with Session.connect(link, name="Bob") as bob:
            def notes() -> str:
                return bob.workspace.read("notes.md") if "notes.md" in bob.workspace else ""

            await eventually(lambda: "ada 1" in notes(), 20)
            text = bob.workspace.text("notes.md")
            text.insert(len(text), "bob 1\n")
            await expect(editor).to_contain_text("bob 1")

            # The agent service, invited from the page: sealed to its key, it joins and proves it.
            item = page.locator("#agents-list li[data-agent=ai]")
            for _ in range(50):
                if await item.count():
                    break
                await page.get_by_role("button", name="Refresh").click()
                await page.wait_for_timeout(200)
            await item.get_by_role("button", name="Invite ai").click()
            await page.get_by_role("dialog").get_by_role("button", name="Invite").click()
            await expect(item.locator(".agent-state")).to_contain_text("ai joined", timeout=60_000)
            await expect(item.locator(".agent-state")).to_contain_text("confirmed")

            # docker kill of a hub serving the room: both clients carry on through the other one.
            serving = {hub: connections(stack, hub) for hub in ("hub-a", "hub-b")}
            victim = max(serving, key=lambda hub: serving[hub])
            assert serving[victim] > 0, serving
            docker("kill", stack.container(victim))
            await type_in_editor(page, "ada 2\n")
            text.insert(len(text), "bob 2\n")
            await expect(editor).to_contain_text("bob 2", timeout=30_000)
            await eventually(lambda: "ada 2" in notes(), 30)
            await bob.wait_idle()
            stack.compose("up", "-d")  # the killed hub back, as its restart policy would after a crash
            wait_healthy(stack, time.monotonic())

            # Redis restarted while Bob types: what the hub acknowledged survives (checked after
            # the whole stack went down below, when only Redis' AOF can hold it).
            stack.compose("restart", "redis")
            text.insert(len(text), "bob 3\n")
            await bob.wait_idle()
            await expect(editor).to_contain_text("bob 3", timeout=30_000)
            acknowledged = notes()
            assert all(mark in acknowledged for mark in ("ada 1", "bob 1", "ada 2", "bob 2", "bob 3"))

        # down and up again: the room, the agent's key and Caddy's CA live in volumes.
        stack.compose("down")
        up_again = stack.up()
        stack.figures["down, then up -d to all healthy"] = f"{up_again:.1f} s"
        print(f"\ncompose: down, then up -d to all healthy in {up_again:.1f} s")
        async with Session.connect(link, name="Cy") as cy:
            await eventually(lambda: "notes.md" in cy.workspace and cy.workspace.read("notes.md") == acknowledged, 30)
        async with stack.http() as http:
            await eventually(agent_listed, 60)
            assert [a["fingerprint"] for a in listing if a["name"] == "ai"] == [agent["fingerprint"]]
        await page.reload()
        await expect(page.locator("#connection-status")).to_have_text(re.compile("^Connected$"), timeout=30_000)
        await expect(editor).to_contain_text("bob 3")
        assert not page.errors
