"""The chat example's Clerk webhook (examples/chat/functions/http.py): Svix
signatures checked, users upserted and deleted, anything unsigned refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import time
from typing import Any

import httpx
import pytest

from tests.helpers.server import REPO_ROOT, LivesyncServer, StartServer
from tests.helpers.timeouts import REPLY

CHAT = REPO_ROOT / "examples" / "chat" / "functions"
SECRET = "whsec_" + base64.b64encode(b"a test signing key of 32 bytes!!").decode()


def _load_example() -> Any:
    spec = importlib.util.spec_from_file_location("chat_http", CHAT / "http.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_verifier_accepts_svixs_published_example_and_nothing_else() -> None:
    verify = _load_example().verify_webhook
    # The example in Svix's documentation of manual verification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    headers = {
        "svix-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "svix-timestamp": "1614265330",
        "svix-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    body = b'{"test": 2432232314}'
    assert verify(secret, headers, body, now=1614265330) == {"test": 2432232314}
    with pytest.raises(ValueError, match="no signature matches"):
        verify(secret, headers, b'{"test": 2432232315}', now=1614265330)
    with pytest.raises(ValueError, match="too far from now"):
        verify(secret, headers, body, now=1614265330 + 301)
    with pytest.raises(ValueError, match="missing"):
        verify(secret, {}, body)


def signed(body: bytes, *, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    message_id, stamp = "msg_test", str(int(time.time() if at is None else at))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{message_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    signature = base64.b64encode(mac).decode()
    return {"svix-id": message_id, "svix-timestamp": stamp, "svix-signature": f"v1,{signature}"}


def event(kind: str, **data: Any) -> bytes:
    return json.dumps({"type": kind, "object": "event", "data": data}).encode()


def post(server: LivesyncServer, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{server.url}/clerk-users-webhook", content=body, headers=headers, timeout=REPLY
    )


def users(server: LivesyncServer) -> list[dict[str, Any]]:
    reply = httpx.post(f"{server.url}/api/query", json={"path": "users:list", "args": {}})
    rows: list[dict[str, Any]] = reply.json()["value"]
    return [{k: row[k] for k in ("clerkId", "email", "name")} for row in rows]


def test_signed_user_events_keep_the_users_table_in_step(start_server: StartServer) -> None:
    server = start_server(CHAT, env={"CLERK_WEBHOOK_SECRET": SECRET})
    created = event(
        "user.created",
        id="user_1",
        first_name="Ada",
        last_name="Lovelace",
        primary_email_address_id="e2",
        email_addresses=[
            {"id": "e1", "email_address": "old@example.com"},
            {"id": "e2", "email_address": "ada@example.com"},
        ],
    )
    reply = post(server, created, signed(created))
    assert reply.status_code == 200 and reply.json() == {"received": "user.created"}
    assert users(server) == [
        {"clerkId": "user_1", "email": "ada@example.com", "name": "Ada Lovelace"}
    ]
    updated = event("user.updated", id="user_1", first_name="Ada", email_addresses=[])
    assert post(server, updated, signed(updated)).status_code == 200
    assert users(server) == [{"clerkId": "user_1", "email": None, "name": "Ada"}]
    deleted = event("user.deleted", id="user_1", deleted=True)
    assert post(server, deleted, signed(deleted)).status_code == 200
    assert users(server) == []


def test_unsigned_or_stale_events_are_refused_and_write_nothing(
    start_server: StartServer,
) -> None:
    server = start_server(CHAT, env={"CLERK_WEBHOOK_SECRET": SECRET})
    body = event("user.created", id="user_2", email_addresses=[])
    other_secret = "whsec_" + base64.b64encode(b"another key, not the server's!!").decode()
    for headers in (
        {},
        signed(body, secret=other_secret),
        signed(body, at=time.time() - 3600),
        {**signed(body), "svix-signature": "v1,bm90IGEgc2lnbmF0dXJl"},
    ):
        reply = post(server, body, headers)
        assert reply.status_code == 400 and reply.text.startswith("Invalid webhook"), reply.text
    tampered = event("user.created", id="user_3", email_addresses=[])
    assert post(server, tampered, signed(body)).status_code == 400
    assert users(server) == []


def test_without_a_secret_the_webhook_says_so(start_server: StartServer) -> None:
    server = start_server(CHAT, env={"CLERK_WEBHOOK_SECRET": ""})
    body = event("user.created", id="user_4")
    reply = post(server, body, signed(body))
    assert reply.status_code == 500 and "CLERK_WEBHOOK_SECRET" in reply.text
