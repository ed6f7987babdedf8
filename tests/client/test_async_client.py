from __future__ import annotations

import asyncio

import pytest

from client import AppError, Client, ClientClosed, FunctionError, Int64
from tests.helpers.timeouts import CLIENT


async def next_result(subscription, timeout: float = CLIENT):
    async with asyncio.timeout(timeout):
        return await subscription.next()


async def test_subscription_yields_first_result_then_pushed_update(server):
    async with Client(server.url) as c:
        sub = c.subscribe("notes:bodies")
        assert await next_result(sub) == []
        async with Client(server.url) as other:
            await other.mutation("notes:add", {"body": "hello"})
        assert await next_result(sub) == ["hello"]


async def test_mutation_returns_only_after_subscription_reflects_it(server):
    async with Client(server.url) as c:
        sub = c.subscribe("notes:bodies")
        assert await next_result(sub) == []
        note_id = await c.mutation("notes:add", {"body": "x"})
        assert isinstance(note_id, str)
        assert sub.latest == ["x"]


async def test_one_shot_query_returns_current_value(server):
    async with Client(server.url) as c:
        await c.mutation("notes:add", {"body": "a"})
        assert await c.query("notes:count", {"body": "a"}) == 1


async def test_app_error_from_mutation_carries_data(server):
    async with Client(server.url) as c:
        with pytest.raises(AppError) as caught:
            await c.mutation("notes:refuse", {"code": 7})
        assert caught.value.data == {"code": 7}


async def test_failed_query_raises_function_error_and_subscription_survives(server):
    async with Client(server.url) as c:
        with pytest.raises(FunctionError, match="no notes for you"):
            await c.query("notes:fail")
        assert await c.query("notes:bodies") == []


async def test_action_round_trips_int64_and_bytes(server):
    value = {
        "big": Int64(2**63 - 1),
        "small": Int64(-(2**63)),
        "raw": b"\x00\x01\xff",
        "f": 1.5,
        "n": 3,
    }
    async with Client(server.url) as c:
        echoed = await c.action("notes:echo", {"value": value})
    assert echoed == value
    assert {key: type(item) for key, item in echoed.items()} == {
        "big": Int64,
        "small": Int64,
        "raw": bytes,
        "f": float,
        "n": int,
    }


async def test_identical_subscriptions_share_one_result_stream(server):
    async with Client(server.url) as c:
        first = c.subscribe("notes:bodies")
        assert await next_result(first) == []
        second = c.subscribe("notes:bodies")
        assert await next_result(second) == []
        await c.mutation("notes:add", {"body": "y"})
        assert await next_result(first) == ["y"]
        assert await next_result(second) == ["y"]
        first.unsubscribe()
        await c.mutation("notes:add", {"body": "z"})
        assert await next_result(second) == ["y", "z"]


async def test_unsubscribed_iteration_stops(server):
    async with Client(server.url) as c:
        sub = c.subscribe("notes:bodies")
        await next_result(sub)
        sub.unsubscribe()
        assert [value async for value in sub] == []


async def test_calls_after_close_raise_client_closed(server):
    c = Client(server.url)
    async with c:
        sub = c.subscribe("notes:bodies")
        await next_result(sub)
    with pytest.raises(ClientClosed):
        await c.mutation("notes:add", {"body": "late"})
    with pytest.raises(ClientClosed):
        await sub.next()
