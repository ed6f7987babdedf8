"""The blocking facade, used the way a script would: no event loop in the test."""

from __future__ import annotations

import threading

import pytest

from client import AppError, ClientClosed, RequestTimeout, SyncClient
from tests.helpers.timeouts import CLIENT


def test_blocking_calls_query_mutate_and_act(server):
    with SyncClient(server.url, timeout=CLIENT) as c:
        assert c.query("notes:bodies") == []
        assert isinstance(c.mutation("notes:add", {"body": "s"}), str)
        assert c.query("notes:count", {"body": "s"}) == 1
        assert c.action("notes:echo", {"value": b"\x01"}) == b"\x01"


def test_blocking_subscription_iterates_pushed_results(server):
    with SyncClient(server.url, timeout=CLIENT) as c:
        sub = c.subscribe("notes:bodies")
        assert sub.next(timeout=CLIENT) == []
        writer = threading.Thread(target=lambda: c.mutation("notes:add", {"body": "t"}))
        writer.start()
        for value in sub:
            if value == ["t"]:
                break
        writer.join(CLIENT)
        assert sub.latest == ["t"]
        sub.unsubscribe()
        assert list(sub) == []


def test_app_error_reaches_the_blocking_caller(server):
    with SyncClient(server.url, timeout=CLIENT) as c:
        with pytest.raises(AppError) as caught:
            c.mutation("notes:refuse", {"code": 3})
        assert caught.value.data == {"code": 3}


def test_waiting_past_the_timeout_raises_request_timeout(server):
    with SyncClient(server.url, timeout=CLIENT) as c:
        sub = c.subscribe("notes:bodies")
        sub.next(timeout=CLIENT)
        with pytest.raises(RequestTimeout):
            sub.next(timeout=0.2)


def test_closed_client_refuses_calls(server):
    c = SyncClient(server.url, timeout=CLIENT)
    c.close()
    c.close()
    with pytest.raises(ClientClosed):
        c.query("notes:bodies")
