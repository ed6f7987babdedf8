"""``livesync run`` and ``livesync watch``: call a function from the shell.

``run`` makes one call over the HTTP API (no socket needed); ``watch`` keeps a
subscription open and prints each new result as one JSON line. Arguments are
Convex JSON: plain numbers are float64, and ``{"$integer": ...}`` or
``{"$bytes": ...}`` give int64 and bytes. Output prints int64 as a JSON integer
and bytes as ``{"$bytes": base64}``.

pyproject.toml adds these to the ``livesync`` command as ``livesync.commands``
entry points, which ``server/cli.py`` discovers (the server never imports this).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import sys
from typing import Any, TextIO

import httpx

from client.async_client import Client
from client.errors import AppError, ClientError, FunctionError, TransportError
from client.transport import http_base_url
from protocol.errors import ProtocolError
from protocol.values import decode, encode_args

__all__ = [
    "AUTO",
    "DEFAULT_URL",
    "KINDS",
    "call_http",
    "run_main",
    "run_parser",
    "watch_main",
    "watch_parser",
]

DEFAULT_URL = "http://127.0.0.1:3210"
KINDS = ("query", "mutation", "action")
# `--kind auto` posts to /api/function, which runs PATH as whatever it is.
AUTO = "auto"
HTTP_TIMEOUT = 60.0


def run_main(argv: list[str] | None = None, *, out: TextIO | None = None) -> int:
    """``livesync run PATH [ARGS_JSON] [--url URL] [--token JWT] [--kind KIND]``.

    Prints the result as JSON; returns the process exit code (0 ok, 1 the
    function failed, 2 bad usage or the server could not be reached).
    """
    parser = run_parser()
    options = parser.parse_args(argv)
    out = sys.stdout if out is None else out
    args = _parse_args(parser, options.args_json)
    try:
        value = asyncio.run(call_http(options.url, options.kind, options.path, args, options.token))
    except FunctionError as exc:
        return _report_failure(exc)
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out.write(display(value) + "\n")
    out.flush()
    return 0


def watch_main(argv: list[str] | None = None, *, out: TextIO | None = None) -> int:
    """``livesync watch PATH [ARGS_JSON] [--url URL] [--token JWT] [--count N]``.

    Prints each new result of the query as one JSON line until interrupted
    (or after ``--count`` results). Failures are printed to stderr and the
    watch continues, since the next result may succeed.
    """
    parser = watch_parser()
    options = parser.parse_args(argv)
    out = sys.stdout if out is None else out
    args = _parse_args(parser, options.args_json)
    try:
        asyncio.run(_watch(options, args, out))
    except KeyboardInterrupt:
        return 0
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def run_parser() -> argparse.ArgumentParser:
    """The arguments of ``livesync run``."""
    parser = _parser("run", "Run one query, mutation or action and print its result.")
    parser.add_argument(
        "--kind",
        choices=(AUTO, *KINDS),
        default=AUTO,
        help="what PATH is; auto (the default) runs it as whatever the server has",
    )
    return parser


def watch_parser() -> argparse.ArgumentParser:
    """The arguments of ``livesync watch``."""
    parser = _parser("watch", "Print each new result of a live query.")
    parser.add_argument("--count", metavar="N", type=int, default=None, help="stop after N results")
    return parser


async def call_http(
    url: str, kind: str, path: str, args: dict[str, Any], token: str | None = None
) -> Any:
    """Call one function over the HTTP API and return its decoded result.

    ``kind`` is one of `KINDS`, or `AUTO` to run ``path`` as whatever kind
    the server says it is.

    Raises:
        AppError / FunctionError: the function failed.
        TransportError: the server could not be reached or answered non-JSON.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"path": path, "args": encode_args(args), "format": "convex_encoded_json"}
    endpoint = f"{http_base_url(url)}/api/{'function' if kind == AUTO else kind}"
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
            response = await http.post(endpoint, json=body, headers=headers)
        reply = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise TransportError(f"POST {endpoint}: {type(exc).__name__}: {exc}") from None
    return _http_result(reply, response.status_code, path)


def display(value: Any) -> str:
    """A value as one line of JSON: int64 as integers, bytes as ``{"$bytes": ...}``."""
    return json.dumps(_displayable(value), ensure_ascii=False)


async def _watch(options: argparse.Namespace, args: dict[str, Any], out: TextIO) -> None:
    seen = 0
    async with Client(options.url, auth=options.token) as client:
        subscription = client.subscribe(options.path, args)
        while options.count is None or seen < options.count:
            try:
                value = await subscription.next()
            except FunctionError as exc:
                _report_failure(exc)
            else:
                out.write(display(value) + "\n")
                out.flush()
            seen += 1


def _http_result(reply: Any, status: int, path: str) -> Any:
    if not isinstance(reply, dict):
        raise TransportError(f"HTTP {status}: unexpected reply {reply!r}")
    try:
        if reply.get("status") == "success":
            return decode(reply.get("value"))
        if reply.get("status") == "error":
            message = str(reply.get("errorMessage", "unknown error"))
            if "errorData" in reply:
                raise AppError(message, decode(reply["errorData"]), path=path)
            raise FunctionError(message, path=path)
    except ProtocolError as exc:
        raise TransportError(f"server sent an undecodable value: {exc}") from None
    # Non-function errors come back as {"code", "message"} with a 4xx/5xx status.
    raise TransportError(f"HTTP {status}: {reply.get('code', '')} {reply.get('message', reply)}")


def _parser(name: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"livesync {name}", description=description)
    parser.add_argument("path", metavar="PATH", help="function path, e.g. messages:list")
    parser.add_argument(
        "args_json",
        metavar="ARGS_JSON",
        nargs="?",
        default="{}",
        help='the arguments as a Convex JSON object, e.g. \'{"body": "hi"}\' (default {})',
    )
    parser.add_argument("--url", default=DEFAULT_URL, help=f"server URL (default {DEFAULT_URL})")
    parser.add_argument("--token", default=None, help="a JWT to authenticate with")
    return parser


def _parse_args(parser: argparse.ArgumentParser, text: str) -> dict[str, Any]:
    try:
        args = decode(json.loads(text))
    except (ValueError, ProtocolError) as exc:
        parser.error(f"ARGS_JSON is not valid Convex JSON: {exc}")
    if not isinstance(args, dict):
        parser.error("ARGS_JSON must be a JSON object")
    return args


def _report_failure(exc: FunctionError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    if isinstance(exc, AppError):
        print(f"data: {display(exc.data)}", file=sys.stderr)
    return 1


def _displayable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _displayable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_displayable(item) for item in value]
    return value
