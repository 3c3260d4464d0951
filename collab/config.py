"""Settings, from command-line flags and their COLLAB_* environment twins, in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from platformdirs import user_data_dir


class ConfigError(ValueError):
    """A setting that cannot be used, with a message that says which one and why."""


def default_data_dir() -> Path:
    return Path(user_data_dir("collab", appauthor=False))


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data: Path = field(default_factory=default_data_dir)
    redis_url: str | None = None
    # Largest websocket frame accepted; bigger ones are closed with 1009.
    max_frame_bytes: int = 8 * 1024 * 1024
    # Bytes queued for one connection before the hub gives up on a client that does not read.
    send_buffer_bytes: int = 16 * 1024 * 1024
    # Presence per connection: the bytes of state the hub holds for it (all its clients' states in a
    # plaintext room, its one envelope in an encrypted room), the client ids a plaintext connection
    # may speak for, and the updates a second the hub relays from it (faster ones are coalesced into
    # the next, which carries the latest state; 0: no limit).
    max_presence_bytes: int = 64 * 1024
    max_presence_clients: int = 8
    presence_updates_per_second: float = 10.0
    # The largest snapshot of an encrypted room: a writer sends one over the frame limit in parts.
    max_snapshot_bytes: int = 256 * 1024 * 1024
    # Extra allowed browser origins (scheme://host[:port]); same host and localhost are always allowed.
    allowed_origins: tuple[str, ...] = ()
    # Plaintext rooms must be created with POST /api/rooms before anyone can join.
    require_room_creation: bool = False
    # Rooms one client address may create (POST /api/rooms, or a first connect to a new plaintext
    # room): a minute's worth at once, then one every 60/N s (0: no limit).
    max_rooms_per_ip_per_minute: int = 30
    # Seconds a connection has to send its HTTP request (a websocket its upgrade) and an encrypted
    # websocket its HELLO; slower ones are closed.
    handshake_timeout_seconds: float = 10.0
    # A websocket that sends no frame for this long is closed (0: never). Clients renew their
    # presence every 15 s (browsers in a background tab at least once a minute).
    idle_timeout_seconds: float = 300.0
    # Websockets at once from one client address (0: no limit), and in total (0: what the process's
    # file-descriptor limit allows, keeping some for HTTP requests such as /healthz).
    max_connections_per_ip: int = 256
    max_connections: int = 0
    # Bytes a second one connection may write, after a burst (0: no limit); the same for all the
    # connections of one room together.
    max_write_bytes_per_second: int = 1024 * 1024
    write_burst_bytes: int = 64 * 1024 * 1024
    max_room_write_bytes_per_second: int = 2 * 1024 * 1024
    room_write_burst_bytes: int = 128 * 1024 * 1024
    # Host header names accepted besides localhost, IP addresses, the bound --host and the hosts of
    # the allowed origins ("*": any); others get 421 (DNS rebinding).
    allowed_hosts: tuple[str, ...] = ()
    # Compact a loaded room once this many entries are in its log past the snapshot.
    compact_after: int = 1000
    # Seconds a room with no connections stays in memory before it is unloaded.
    room_idle_seconds: float = 5.0
    # NORMAL (WAL): a commit survives a crash of the hub process (kill -9); FULL also survives power loss
    # at the price of an fsync per group commit (measured here: p50 0.17 ms, p99 9.4 ms).
    sqlite_synchronous: str = "NORMAL"
    log_level: str = "info"
    # Shared secret that agent services present to register and read invites (environment only:
    # a flag would show in `ps`). Empty means no token is required.
    agent_token: str = field(default="", repr=False)

    @property
    def sqlite_path(self) -> Path:
        return self.data / "collab.sqlite3"

    def validate(self) -> "Settings":
        if not (0 <= self.port <= 65535):
            raise ConfigError(f"port must be 0..65535, got {self.port}")
        if self.max_frame_bytes < 1024:
            raise ConfigError("max frame size must be at least 1024 bytes")
        if self.send_buffer_bytes < self.max_frame_bytes:
            raise ConfigError("send buffer must be at least the max frame size")
        if self.max_presence_bytes < 1024:
            raise ConfigError(f"max-presence-bytes must be at least 1024, got {self.max_presence_bytes}")
        if self.max_presence_clients < 1:
            raise ConfigError(f"max-presence-clients must be at least 1, got {self.max_presence_clients}")
        if self.presence_updates_per_second < 0:
            raise ConfigError(f"presence-updates-per-second must be 0 (no limit) or more, got {self.presence_updates_per_second}")
        if self.max_snapshot_bytes < self.max_frame_bytes:
            raise ConfigError("max snapshot size must be at least the max frame size")
        if self.log_level.lower() not in ("debug", "info", "warning", "error", "critical"):
            raise ConfigError(f"log level must be debug, info, warning, error or critical, got {self.log_level!r}")
        if self.compact_after < 1:
            raise ConfigError(f"compact-after must be at least 1 log entry, got {self.compact_after}")
        if self.max_rooms_per_ip_per_minute < 0:
            raise ConfigError(f"max-rooms-per-ip-per-minute must be 0 (no limit) or more, got {self.max_rooms_per_ip_per_minute}")
        if not self.handshake_timeout_seconds > 0:
            raise ConfigError(f"handshake-timeout-seconds must be more than 0, got {self.handshake_timeout_seconds}")
        if self.idle_timeout_seconds < 0:
            raise ConfigError(f"idle-timeout-seconds must be 0 (never) or more, got {self.idle_timeout_seconds}")
        for name in ("max_connections_per_ip", "max_connections", "max_write_bytes_per_second",
                     "max_room_write_bytes_per_second"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name.replace('_', '-')} must be 0 (no limit) or more, got {getattr(self, name)}")
        for burst in ("write_burst_bytes", "room_write_burst_bytes"):
            if getattr(self, burst) < self.max_frame_bytes:
                raise ConfigError(
                    f"{burst.replace('_', '-')} must be at least the max frame size ({self.max_frame_bytes}): "
                    "a burst smaller than one frame refuses that frame every time"
                )
        for host in self.allowed_hosts:
            if "/" in host or " " in host:
                raise ConfigError(f"allowed host must be a host name or address like collab.example.org, got {host!r}")
        if self.room_idle_seconds < 0:
            raise ConfigError(f"room-idle-seconds must be 0 or more, got {self.room_idle_seconds}")
        if self.sqlite_synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigError("sqlite synchronous must be one of OFF, NORMAL, FULL, EXTRA")
        if self.redis_url is not None and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"redis URL must start with redis://, rediss:// or unix://, got {self.redis_url!r}")
        for origin in self.allowed_origins:
            if "://" not in origin:
                raise ConfigError(f"allowed origin must look like https://host[:port], got {origin!r}")
        return self


def env_name(name: str) -> str:
    return "COLLAB_" + name.upper()


def _convert(name: str, raw: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw).expanduser()
        if isinstance(default, tuple):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError(f"{env_name(name)}={raw!r} is not a valid {type(default).__name__}") from exc
    return raw


def load_settings(overrides: dict[str, object] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Defaults, then COLLAB_* variables, then explicit overrides (flags) that are not None."""
    environ = dict(os.environ) if environ is None else environ
    base = Settings()
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = environ.get(env_name(f.name))
        if raw is not None:
            default = getattr(base, f.name)
            values[f.name] = raw if default is None else _convert(f.name, raw, default)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    return Settings(**{**base.__dict__, **values}).validate()
