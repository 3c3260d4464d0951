"""`collab agent LINK`: join a session as the AI participant."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import sys
from pathlib import Path

from collab.ai import auto_model, fim
from collab.ai.agent import Agent, AgentConfig
from collab.ai.inline import InlineConfig
from collab.ai.backend import BackendSpecError, ModelBackend, load_backend
from collab.ai.context import Budget
from collab.ai.local_backend import LocalSettings
from collab.ai.limits import RoomLimits
from collab.client.provider import ProviderError
from collab.client.session import Session
from collab.commands import link_arg
from collab.config import default_data_dir, env_name
from collab.crypto import LinkError
from collab.crypto.links import ParsedLink, link_secrets, parse_link
from collab.crypto.redact import RedactingFormatter, Redactor

HELP = "join a session as the AI participant (answers @ai in chat, streams code suggestions)"
MODEL_ENV = env_name("agent_model")
HUB_ENV = env_name("agent_hub")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
TOKEN_ENV = env_name("agent_token")
COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("link", nargs="?", help=link_arg.HELP)
    p.add_argument("--serve", action="store_true",
                   help="run as a service pages can invite into rooms (needs --hub; no link)")
    p.add_argument("--hub", default=None, help=f"with --serve: the hub's base URL, e.g. http://127.0.0.1:8000 (env {HUB_ENV})")
    p.add_argument("--data", type=Path, default=None,
                   help="with --serve: where the agent's key pair is kept (default: COLLAB_DATA or collab's data directory)")
    p.add_argument(
        "--model",
        default=None,
        help=f"backend spec (default: what is there, see docs/ai.md): builtin (offline, no model), local:<name> or local:/path/model.gguf "
        f"(llama.cpp in this process, `collab models list`), openai:<model> (OPENAI_API_KEY, "
        f"OPENAI_BASE_URL), ollama:<model>, or a plug-in's kind:<model> (env {MODEL_ENV})",
    )
    p.add_argument("--threads", type=int, metavar="N", default=LocalSettings.threads,
                   help="local models: CPU threads for llama.cpp (default: its choice, the physical cores)")
    p.add_argument("--ctx-size", type=int, metavar="TOKENS", default=LocalSettings.ctx_size,
                   help="local models: context size in tokens (default %(default)s)")
    p.add_argument("--gpu-layers", type=int, metavar="N", default=LocalSettings.gpu_layers,
                   help="local models: layers offloaded to a GPU; 0 for CPU only (default: all that fit, "
                   "when the llama.cpp build and the machine have a GPU)")
    p.add_argument("--name", default="ai", help="the agent's name in presence and chat; @name addresses it (default ai; "
                   "with --serve 1-32 of a-z 0-9 _ -)")
    p.add_argument("--color", default="#7c3aed", metavar="#RRGGBB", help="the agent's colour, #rrggbb (default %(default)s)")
    p.add_argument("--requests-per-minute", type=int, metavar="N", default=RoomLimits.requests_per_minute,
                   help="model requests per room per minute; more are refused in the chat (default %(default)s)")
    p.add_argument("--tokens-per-hour", type=int, metavar="N", default=RoomLimits.tokens_per_hour,
                   help="model tokens (prompt and answer) per room per hour; more are refused in the chat "
                   "(default %(default)s)")
    p.add_argument("--context-tokens", type=int, metavar="N", default=Budget.context_tokens,
                   help="prompt budget per request (default %(default)s)")
    p.add_argument("--answer-tokens", type=int, metavar="N", default=Budget.answer_tokens,
                   help="longest chat answer (default %(default)s)")
    p.add_argument("--idle-timeout", type=float, metavar="SECONDS", default=AgentConfig.idle_timeout,
                   help="seconds without a token before a stream counts as dead (default %(default)g)")
    p.add_argument("--inline", choices=("on", "off"), default="on",
                   help="complete as participants type (ghost text in their editors; default %(default)s)")
    p.add_argument("--fim-template", choices=fim.CHOICES, default="auto",
                   help="fill-in-the-middle template for inline completions: auto (from the model name), "
                   "chat (a prompt for chat models) or a family (default %(default)s)")
    p.add_argument("--inline-per-minute", type=int, metavar="N", default=RoomLimits.inline_per_minute,
                   help="inline completion requests per room per minute (default %(default)s)")
    p.add_argument("--presence-updates-per-second", type=float, metavar="N", default=InlineConfig.updates_per_second,
                   help="the hub's presence rate (collab serve's flag of that name): inline replies are paced "
                   "under it (default %(default)g)")
    p.add_argument("--log-level", default="info", metavar="LEVEL", help=f"{', '.join(LOG_LEVELS)} (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    problem = _bad_option(args)
    if problem:
        print(f"collab agent: {problem}", file=sys.stderr)
        return 2
    # Every secret this process holds, whatever its shape, and credential shapes besides: kept out of
    # the logs (tracebacks included), the lines printed here and the errors written into rooms.
    redactor = Redactor([os.environ.get("OPENAI_API_KEY"), os.environ.get(TOKEN_ENV)])
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(RedactingFormatter(LOG_FORMAT, redactor))
    # The SDK's HTTP logger prints request URLs at info level; ours say what matters without them.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    hub = args.hub or os.environ.get(HUB_ENV)
    key_file: Path | None = None
    parsed: ParsedLink | None = None
    if not args.serve:
        try:
            args.link = link_arg.read_link_argument(args.link)
        except link_arg.LinkArgumentError as exc:
            print(f"collab agent: {exc}", file=sys.stderr)
            return 2
    if args.serve:
        if args.link or not hub:
            print("collab agent: --serve takes --hub URL and no link", file=sys.stderr)
            return 2
        from collab.ai.service import AgentNameError, key_file_for

        # The name becomes a file name: it is checked before any path is built from it.
        data = args.data or Path(os.environ.get(env_name("data")) or default_data_dir())
        try:
            key_file = key_file_for(data, args.name)
        except AgentNameError as exc:
            print(f"collab agent: {exc}", file=sys.stderr)
            return 2
    elif not args.link:
        print(f"collab agent: give a session link (as an argument, as - to read it from stdin, or in "
              f"${link_arg.LINK_ENV}), or --serve --hub URL", file=sys.stderr)
        return 2
    else:
        try:
            parsed = parse_link(args.link)
        except LinkError as exc:
            print(f"collab agent: {exc}", file=sys.stderr)
            return 1
        if parsed.keys is not None:
            redactor.add(*link_secrets(parsed.keys))
        if parsed.keys is not None and parsed.keys.write_secret is None:
            # Known from the link itself: refused before connecting, so nothing to retry or to leave.
            print("collab agent: this is a read-only link (#r=...); the agent needs the room's write link "
                  "(#k=...) to answer", file=sys.stderr)
            return 1
    spec = args.model or os.environ.get(MODEL_ENV)
    if not spec:
        choice = auto_model.choose()
        spec = choice.spec
        print(f"collab agent: no --model given: using {spec} because {choice.why}; {auto_model.HOW_TO_CHOOSE}",
              file=sys.stderr, flush=True)
    try:
        backend = _backend(spec, args)
    except BackendSpecError as exc:
        print(f"collab agent: {exc}", file=sys.stderr)
        return 2
    config = AgentConfig(
        name=args.name,
        color=args.color,
        budget=Budget(context_tokens=args.context_tokens, answer_tokens=args.answer_tokens),
        limits=RoomLimits(args.requests_per_minute, args.tokens_per_hour, args.inline_per_minute),
        inline=InlineConfig(enabled=args.inline == "on", fim_template=args.fim_template,
                            updates_per_second=args.presence_updates_per_second),
        idle_timeout=args.idle_timeout,
    )
    if key_file is not None and hub:
        from collab.ai.service import KeyFileError

        try:
            return asyncio.run(serve_invites(hub, key_file, backend, config, redactor))
        except (KeyFileError, LinkError) as exc:
            print(f"collab agent: {redactor(str(exc))}", file=sys.stderr)
            return 1
    assert parsed is not None
    try:
        return asyncio.run(serve(parsed, backend, config, redactor))
    except (LinkError, ProviderError) as exc:
        print(f"collab agent: {redactor(str(exc))}", file=sys.stderr)
        return 1


def _bad_option(args: argparse.Namespace) -> str | None:
    """What is wrong with the options, in one line; checked before anything starts."""
    if args.log_level.lower() not in LOG_LEVELS:
        return f"--log-level must be one of {', '.join(LOG_LEVELS)} (got {args.log_level!r})"
    if not COLOR.fullmatch(args.color):
        return f"--color wants #rrggbb, like #7c3aed (got {args.color!r})"
    for value, what in ((args.requests_per_minute, "--requests-per-minute"), (args.tokens_per_hour, "--tokens-per-hour"),
                        (args.context_tokens, "--context-tokens"), (args.answer_tokens, "--answer-tokens"),
                        (args.inline_per_minute, "--inline-per-minute")):
        if value < 1:
            return f"{what} must be at least 1"
    if not args.presence_updates_per_second >= 0:
        return "--presence-updates-per-second must be 0 (the hub does not limit presence) or more"
    if not args.idle_timeout > 0:  # also refuses nan
        return "--idle-timeout must be more than 0 seconds"
    if args.threads == 0 or args.threads < -1:
        return "--threads must be at least 1 (or -1 for llama.cpp's choice)"
    if args.ctx_size < 64:
        return "--ctx-size must be at least 64 tokens"
    if args.gpu_layers < -1:
        return "--gpu-layers must be 0 or more (or -1 for all that fit)"
    return None


def _backend(spec: str | None, args: argparse.Namespace) -> ModelBackend:
    """The backend a spec names; ``local:`` loads its model here, before the event loop starts."""
    kind, _, model = (spec or "").strip().partition(":")
    if kind != "local":
        return load_backend(spec)
    from collab.models.resolve import local_backend

    settings = LocalSettings(threads=args.threads, ctx_size=args.ctx_size, gpu_layers=args.gpu_layers)
    return local_backend(model, settings)


async def serve(parsed: ParsedLink, backend: ModelBackend, config: AgentConfig, redactor: Redactor) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Session.connect(parsed, name=config.name, color=config.color) as session:
            async with Agent(session.doc, session.awareness, backend, config, redactor=redactor,
                             send_direct=session.provider.send_direct):
                print(
                    f"collab agent: {config.name} is in room {session.link.room} with {backend.spec} "
                    f"({backend.description}); Ctrl-C to leave",
                    file=sys.stderr,
                    flush=True,
                )
                await stop.wait()
            try:
                await asyncio.wait_for(session.wait_idle(), 5)
            except (asyncio.TimeoutError, ProviderError):
                pass
        print(f"collab agent: {config.name} left room {parsed.room}", file=sys.stderr, flush=True)
    finally:
        await backend.aclose()
    return 0


async def serve_invites(
    hub: str, key_file: Path, backend: ModelBackend, config: AgentConfig, redactor: Redactor
) -> int:
    from collab.ai.service import AgentService, HubRefusal, ServiceConfig

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    service = AgentService(
        ServiceConfig(hub=hub, agent=config, key_file=key_file, token=os.environ.get(TOKEN_ENV) or None),
        backend,
        redactor,
    )
    print(
        f"collab agent: {config.name} serving invites from {service.hub} with {backend.spec} "
        f"({backend.description}); key fingerprint {service.fingerprint}",
        file=sys.stderr,
        flush=True,
    )
    try:
        await service.run(stop)
    except HubRefusal as exc:
        print(f"collab agent: {redactor(str(exc))}", file=sys.stderr)
        return 1
    finally:
        await backend.aclose()
    print(f"collab agent: {config.name} stopped serving; the hub lists it until its lease ends (at most a minute)",
          file=sys.stderr, flush=True)
    return 0
