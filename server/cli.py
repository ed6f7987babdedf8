"""The `livesync` command (also `python -m server`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, NamedTuple

from server.config import (
    DEFAULT_DATABASE_URL,
    DEFAULT_FUNCTIONS_DIR,
    AuthConfig,
    Config,
    load_config,
)
from server.errors import ConfigError, LivesyncError, StoreError
from server.functions.registry import FunctionRegistry
from server.launch import Origins, load_functions, locate
from server.serving import bind, listening_url, serve
from server.store import open_store
from server.version import installed_version

__all__ = ["main"]

log = logging.getLogger("livesync.server")

DEV_ISSUER_PREFIX = "/dev-issuer"
# Packages add `livesync` subcommands as entry points of this group (see
# pyproject.toml): each names a `main(argv) -> exit code`. The client's
# commands come this way, so the server never imports the client library.
COMMANDS_GROUP = "livesync.commands"
CLIENT_COMMANDS = ("run", "watch")  # only to explain their absence
_ADDED_HELP = {
    "run": "run one query, mutation or action and print its result",
    "watch": "print each new result of a live query",
}
DEFAULT_ISSUER = "http://127.0.0.1:3210" + DEV_ISSUER_PREFIX  # `livesync dev`'s
_KEYS = "data/dev-issuer-keys"


def _load(args: argparse.Namespace) -> tuple[Config, Origins]:
    path = args.config
    if path is None and Path("config.toml").is_file():
        path = "config.toml"
    try:
        config = load_config(path)
    except ConfigError as exc:
        if path is None:
            raise
        raise ConfigError(locate(Path(path), str(exc))) from None
    flags = {
        flag
        for flag, value in (
            ("--host", args.host),
            ("--port", args.port),
            ("--functions", args.functions),
            ("--database", args.database),
        )
        if value is not None
    }
    origins = Origins(Path(path) if path is not None else None, frozenset(flags))
    config = config.with_overrides(
        host=args.host, port=args.port, functions=args.functions, database=args.database
    )
    return config, origins


class _Launch(NamedTuple):
    config: Config
    origins: Origins
    registry: FunctionRegistry
    sock: socket.socket


def _prepare(args: argparse.Namespace) -> _Launch:
    """Config, functions and the listening socket, or one line saying what
    to change (`LivesyncError`)."""
    config, origins = _load(args)
    registry = load_functions(config, origins)
    try:
        open_store(config.database.url)  # a URL no backend takes; opened later
    except ConfigError as exc:
        raise ConfigError(f"{exc} {origins.hint('database', 'url', '--database')}") from None
    sock = bind(config.server.host, config.server.port, origins.hint("server", "port", "--port"))
    return _Launch(config, origins, registry, sock)


def _run(launch: _Launch, **options: Any) -> None:
    try:
        asyncio.run(serve(launch.config, launch.sock, registry=launch.registry, **options))
    except StoreError as exc:
        # Only start-up lets one through: the database could not be opened.
        hint = launch.origins.hint("database", "url", "--database")
        raise StoreError(f"{exc} {hint}") from None


def _cmd_serve(args: argparse.Namespace) -> None:
    _run(_prepare(args))


def _cmd_export(args: argparse.Namespace) -> None:
    from server.backup import Progress, run_export

    config, origins = _load(args)
    registry = load_functions(config, origins)
    path = Path(args.path)
    progress = Progress(False if args.quiet else None)
    manifest = asyncio.run(run_export(config, registry, path, progress))
    print(
        f"livesync: exported {manifest.documents:,} documents of {len(manifest.tables)} tables "
        f"and {manifest.files:,} files at ts {manifest.snapshot_ts} to {path}",
        flush=True,
    )


def _cmd_import(args: argparse.Namespace) -> None:
    from server.backup import Mode, Progress, run_import

    config, origins = _load(args)
    registry = load_functions(config, origins)
    mode: Mode = "replace" if args.replace else "append" if args.append else "empty"
    progress = Progress(False if args.quiet else None)
    path = Path(args.path)
    summary = asyncio.run(run_import(config, registry, path, args.table, mode, progress))
    print(
        f"livesync: imported {summary.documents:,} documents of {summary.tables} tables "
        f"and {summary.files:,} files from {args.path}",
        flush=True,
    )


def _cmd_admin_key(args: argparse.Namespace) -> None:
    from server.admin.keys import AdminKey, admin_key_path

    config, _ = _load(args)
    if config.server.admin_key:
        raise LivesyncError(
            "the admin key comes from [server] admin_key in the config: change it there"
        )
    keys = AdminKey(admin_key_path(config))
    key = keys.rotate() if args.rotate else keys.current()
    if key is None:
        key = keys.rotate()  # none yet: made now, as a first start would
    print(key)


def _cmd_dev(args: argparse.Namespace) -> None:
    from server.auth.providers import OidcProvider
    from server.dev_issuer import DevIssuer

    launch = _prepare(args)
    config = launch.config
    issuer_url = listening_url(launch.sock) + DEV_ISSUER_PREFIX
    keys_dir = Path(args.keys or config.base_dir / "data" / "dev-issuer-keys")
    issuer = DevIssuer(keys_dir, issuer_url)
    provider = OidcProvider(domain=issuer_url, application_id="convex")
    config = replace(config, auth=AuthConfig((*config.auth.providers, provider)))
    print(f"livesync: dev issuer at {issuer_url} (keys in {keys_dir})", flush=True)
    print(
        f"livesync: get a token with: livesync token --sub alice --issuer {issuer_url}",
        flush=True,
    )
    _run(launch._replace(config=config), mounts={DEV_ISSUER_PREFIX: issuer}, dev=True)


def _cmd_init(args: argparse.Namespace) -> None:
    from server.project import init_project, next_command

    folder = Path(args.dir)
    for path in init_project(folder):
        print(f"livesync: created {path}")
    print(f"livesync: next, run: {next_command(folder)}")


def _cmd_dev_issuer(args: argparse.Namespace) -> None:
    from server.dev_issuer import run_dev_issuer

    run_dev_issuer(args.host, args.port, Path(args.keys))


def _cmd_token(args: argparse.Namespace) -> None:
    from server.dev_issuer import request_token

    print(request_token(args.issuer, args.sub, email=args.email, name=args.name, ttl=args.ttl))


def _cmd_rotate(args: argparse.Namespace) -> None:
    from server.dev_issuer import rotate_keys

    print(rotate_keys(Path(args.keys)))


def _command_entry_points() -> dict[str, EntryPoint]:
    """The subcommands other packages add (`livesync run`/`watch` from client/)."""
    return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}


def _run_added_command(name: str, entry_point: EntryPoint | None, argv: list[str]) -> int:
    if entry_point is None:
        raise LivesyncError(
            f"`livesync {name}` comes with the livesync client, which is not installed "
            "(pip install -e . in the livesync checkout)"
        )
    try:
        command: Callable[[list[str]], int] = entry_point.load()
    except ImportError as exc:
        raise LivesyncError(
            f"`livesync {name}` needs {entry_point.value}, which cannot be "
            f"imported ({exc}); reinstall livesync with its client"
        ) from None
    return command(argv)


def _add_server_options(p: argparse.ArgumentParser, *, listens: bool = True) -> None:
    # Each flag overrides its config.toml key; the defaults are config.py's.
    p.add_argument(
        "--config", metavar="FILE", help="config.toml (default: ./config.toml if present)"
    )
    if listens:
        p.add_argument("--host", help="address to listen on ([server] host; default 127.0.0.1)")
        p.add_argument(
            "--port",
            type=int,
            help="port to listen on, 0 for any free one ([server] port; default 3210)",
        )
    else:
        p.set_defaults(host=None, port=None)
    p.add_argument(
        "--functions",
        metavar="DIR",
        help=f"folder of function modules ([functions] dir; default {DEFAULT_FUNCTIONS_DIR})",
    )
    p.add_argument(
        "--database",
        metavar="URL",
        help="sqlite:///path.db or postgresql://... "
        f"([database] url; default {DEFAULT_DATABASE_URL})",
    )


def _parser(added: Mapping[str, EntryPoint]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livesync", description="Realtime sync server")
    parser.add_argument(
        "--version",
        action="version",
        version=f"livesync {installed_version()}",
        help="print the installed version and exit",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="one of these (COMMAND --help)"
    )
    _add_server_options(sub.add_parser("serve", help="run the server"))
    p = sub.add_parser(
        "dev", help="run the server with the built-in dev issuer, ready to use offline"
    )
    _add_server_options(p)
    p.add_argument(
        "--keys",
        metavar="DIR",
        help="dev issuer key folder (default: data/dev-issuer-keys in the config's folder)",
    )
    p = sub.add_parser("init", help="start a new project: config.toml, functions/, .gitignore")
    p.add_argument("dir", nargs="?", default=".", help="the project folder (default: .)")
    for name, help_text in (
        ("export", "write a snapshot of every table and stored file to a new ZIP"),
        ("import", "load a snapshot ZIP (into an empty deployment unless told otherwise)"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("path", metavar="PATH", help="the snapshot ZIP")
        _add_server_options(p, listens=False)
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        if name == "import":
            p.add_argument("--table", metavar="T", help="import only table T of the ZIP")
            how = p.add_mutually_exclusive_group()
            how.add_argument(
                "--replace", action="store_true", help="empty the imported tables first"
            )
            how.add_argument(
                "--append", action="store_true", help="add to the documents already there"
            )
    p = sub.add_parser("dev-issuer", help="run the dev token issuer on its own")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    p.add_argument("--port", type=int, default=3211, help="port to listen on (%(default)s)")
    p.add_argument("--keys", metavar="DIR", default=_KEYS, help="signing key folder (%(default)s)")
    p = sub.add_parser("token", help="get a token from a dev issuer")
    p.add_argument("--sub", metavar="ID", required=True, help="the user's subject (user id)")
    p.add_argument("--email", help="the email claim")
    p.add_argument("--name", help="the name claim")
    p.add_argument(
        "--ttl", metavar="SECONDS", type=int, help="lifetime of the token (issuer's default: 1 h)"
    )
    p.add_argument(
        "--issuer",
        metavar="URL",
        default=DEFAULT_ISSUER,
        help="the dev issuer to ask (default: livesync dev's, %(default)s)",
    )
    p = sub.add_parser("admin-key", help="print the admin key (the dashboard's), or a new one")
    p.add_argument(
        "--config", metavar="FILE", help="config.toml (default: ./config.toml if present)"
    )
    p.add_argument(
        "--database", metavar="URL", help="the database whose key (it lives beside a SQLite file)"
    )
    p.add_argument(
        "--rotate", action="store_true", help="make a new key; the old one stops working"
    )
    p.set_defaults(host=None, port=None, functions=None)
    p = sub.add_parser("rotate-keys", help="rotate the dev issuer's signing key")
    p.add_argument("--keys", metavar="DIR", default=_KEYS, help="signing key folder (%(default)s)")
    sub.add_parser("codegen", help="write api.js / api.d.ts (--out DIR)", add_help=False)
    for name, entry_point in added.items():
        help_text = _ADDED_HELP.get(name, f"from {entry_point.module}")
        sub.add_parser(name, help=f"{help_text} (livesync {name} --help)", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(
        level=os.environ.get("LIVESYNC_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    if argv and argv[0] == "codegen":
        from server.codegen import codegen_main

        sys.exit(codegen_main(argv[1:]))
    added = _command_entry_points()
    commands = {
        "serve": _cmd_serve,
        "dev": _cmd_dev,
        "init": _cmd_init,
        "dev-issuer": _cmd_dev_issuer,
        "token": _cmd_token,
        "rotate-keys": _cmd_rotate,
        "export": _cmd_export,
        "import": _cmd_import,
        "admin-key": _cmd_admin_key,
    }
    try:
        if argv and (argv[0] in added or argv[0] in CLIENT_COMMANDS):
            sys.exit(_run_added_command(argv[0], added.get(argv[0]), argv[1:]))
        args = _parser(added).parse_args(argv)
        commands[args.command](args)
    except LivesyncError as exc:
        print(f"livesync: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        pass
