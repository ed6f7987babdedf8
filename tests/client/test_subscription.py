from __future__ import annotations

import asyncio

import pytest

from client.errors import ClientClosed
from client.subscription import QueryChannel, Subscription
from protocol.client_state import FunctionResult
from tests.helpers.timeouts import EVENT


def make(channel: QueryChannel, released: list[int] | None = None) -> Subscription:
    return Subscription(
        path="q:a",
        args={},
        channel=channel,
        unwrap=lambda outcome, path: outcome.value,
        release=lambda: (released if released is not None else []).append(1),
    )


async def test_existing_result_is_yielded_first():
    sub = make(QueryChannel(FunctionResult([1.0])))
    assert await sub.next() == [1.0]
    assert sub.has_result and sub.latest == [1.0]


async def test_slow_consumer_skips_to_the_newest_result():
    channel = QueryChannel(None)
    sub = make(channel)
    assert sub.latest is None
    channel.publish(FunctionResult(1.0))
    channel.publish(FunctionResult(2.0))
    assert await sub.next() == 2.0


async def test_waiting_iterator_wakes_on_publish():
    channel = QueryChannel(None)
    sub = make(channel)
    waiter = asyncio.create_task(sub.next())
    await asyncio.sleep(0)  # let the waiter block; a yield, not a timing assumption
    assert not waiter.done()
    channel.publish(FunctionResult("x"))
    async with asyncio.timeout(EVENT):
        assert await waiter == "x"


async def test_unsubscribe_releases_once_and_ends_a_waiting_iteration():
    released: list[int] = []
    sub = make(QueryChannel(None), released)
    waiter = asyncio.create_task(anext(sub, "ended"))
    await asyncio.sleep(0)
    sub.unsubscribe()
    sub.unsubscribe()
    async with asyncio.timeout(EVENT):
        assert await waiter == "ended"
    assert released == [1]
    assert not sub.active


async def test_closed_channel_ends_iteration():
    channel = QueryChannel(FunctionResult(1.0))
    sub = make(channel)
    channel.close()
    assert [value async for value in sub] == []
    with pytest.raises(ClientClosed, match="ended"):
        await sub.next()
