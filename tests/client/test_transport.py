from __future__ import annotations

import pytest

from client.errors import TransportError
from client.transport import Transport, http_base_url, sync_url
from tests.helpers.timeouts import EVENT


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:3210", "ws://127.0.0.1:3210/api/sync"),
        ("https://example.com/some/path?x=1", "wss://example.com/api/sync?x=1"),
        ("ws://h:1/", "ws://h:1/api/sync"),
    ],
)
def test_sync_url_replaces_the_path_and_keeps_the_query(url, expected):
    assert sync_url(url) == expected


@pytest.mark.parametrize("url", ["ftp://h", "http://", "127.0.0.1:3210"])
def test_unusable_urls_are_refused(url):
    with pytest.raises(ValueError):
        sync_url(url)


def test_http_base_url_is_the_origin():
    assert http_base_url("wss://example.com/api/sync?x=1") == "https://example.com"
    assert http_base_url("http://127.0.0.1:3210/") == "http://127.0.0.1:3210"


async def test_refused_connection_becomes_transport_error(unused_tcp_port):
    with pytest.raises(TransportError, match="connecting"):
        await Transport.open(f"ws://127.0.0.1:{unused_tcp_port}/api/sync", open_timeout=EVENT)
