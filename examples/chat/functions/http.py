"""HTTP actions of the chat example: Clerk's user webhook.

Clerk sends `user.created`, `user.updated` and `user.deleted` events signed
the Svix way; set the endpoint's signing secret (whsec_...) as
CLERK_WEBHOOK_SECRET and point the webhook at <server>/clerk-users-webhook.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
from collections.abc import Mapping
from typing import Any

from server import Response, http_action, http_router, internal

__all__ = ["http", "verify_webhook"]

# How far a signed timestamp may be from now, as Svix's own libraries allow.
TOLERANCE_S = 5 * 60


def verify_webhook(
    secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> Any:
    """The JSON payload of a Svix-signed request; ValueError if it is not
    signed with `secret` (whsec_<base64 key>) within the tolerance of `now`."""
    message_id = headers.get("svix-id")
    timestamp = headers.get("svix-timestamp")
    signatures = headers.get("svix-signature")
    if not message_id or not timestamp or not signatures:
        raise ValueError("missing svix-id, svix-timestamp or svix-signature")
    try:
        sent = int(timestamp)
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (ValueError, binascii.Error):
        raise ValueError("bad svix-timestamp or secret") from None
    if abs((time.time() if now is None else now) - sent) > TOLERANCE_S:
        raise ValueError("svix-timestamp is too far from now")
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    # The header lists "v1,<signature>" entries separated by spaces (one per
    # secret while Clerk rotates them).
    for entry in signatures.split():
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return json.loads(body)
    raise ValueError("no signature matches")


@http_action
async def clerk_users(ctx: Any, request: Any) -> Any:
    secret = os.environ.get("CLERK_WEBHOOK_SECRET")
    if not secret:
        return Response("CLERK_WEBHOOK_SECRET is not set on the server", status_code=500)
    try:
        event = verify_webhook(secret, request.headers, await request.body())
    except ValueError as exc:
        return Response(f"Invalid webhook: {exc}", status_code=400)
    kind, data = event.get("type"), event.get("data") or {}
    if kind in ("user.created", "user.updated"):
        await ctx.run_mutation(internal.users.upsert_from_clerk, {"data": data})
    elif kind == "user.deleted" and isinstance(data.get("id"), str):
        await ctx.run_mutation(internal.users.delete_from_clerk, {"clerkId": data["id"]})
    return {"received": kind}


http = http_router()
http.route(path="/clerk-users-webhook", method="POST", handler=clerk_users)
