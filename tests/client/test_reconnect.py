"""Reconnects against a real server: restarts, silent servers, in-flight mutations."""

from __future__ import annotations

import asyncio

from client import Client
from tests.client.conftest import fast_backoff
from tests.helpers.timeouts import CLIENT


async def results_until(subscription, predicate):
    """Read results until one satisfies ``predicate``; return it."""
    async with asyncio.timeout(CLIENT):
        while True:
            value = await subscription.next()
            if predicate(value):
                return value


async def test_restart_mid_subscription_applies_in_flight_mutation_exactly_once(server, proxy):
    async with Client(proxy.url, backoff=fast_backoff) as c:
        sub = c.subscribe("notes:bodies")
        assert await results_until(sub, lambda v: True) == []
        proxy.hold()
        mutation = asyncio.create_task(c.mutation("notes:add", {"body": "once"}))
        async with asyncio.timeout(CLIENT):
            # The server committed it and answered; the answer never reaches us.
            await proxy.wait_for_downstream(b'"MutationResponse"')
        assert not mutation.done()
        await asyncio.to_thread(server.restart)
        async with asyncio.timeout(CLIENT):
            note_id = await mutation
        assert isinstance(note_id, str)
        assert sub.latest == ["once"]
        assert await c.query("notes:count", {"body": "once"}) == 1
        assert proxy.connections >= 2


async def test_subscription_resumes_with_fresh_results_after_restart(server, proxy):
    async with Client(proxy.url, backoff=fast_backoff) as c:
        sub = c.subscribe("notes:bodies")
        assert await results_until(sub, lambda v: True) == []
        await asyncio.to_thread(server.restart)
        async with Client(server.url) as writer:
            await writer.mutation("notes:add", {"body": "after restart"})
        assert await results_until(sub, lambda v: v != []) == ["after restart"]


async def test_silent_server_is_left_and_reconnected(server, proxy):
    async with Client(proxy.url, inactivity_timeout=0.5, backoff=fast_backoff) as c:
        sub = c.subscribe("notes:bodies")
        assert await results_until(sub, lambda v: True) == []
        proxy.silence()
        async with Client(server.url) as writer:
            await writer.mutation("notes:add", {"body": "while silent"})
        assert await results_until(sub, lambda v: v != []) == ["while silent"]
        assert proxy.connections == 2


async def test_mutation_made_while_server_is_down_is_sent_after_it_returns(server, proxy):
    async with Client(proxy.url, backoff=fast_backoff) as c:
        await c.wait_connected()
        await asyncio.to_thread(server.stop)
        mutation = asyncio.create_task(c.mutation("notes:add", {"body": "queued"}))
        await asyncio.to_thread(server.start)
        async with asyncio.timeout(CLIENT):
            assert isinstance(await mutation, str)
        assert await c.query("notes:count", {"body": "queued"}) == 1
