"""The inbox: frames parsed once on arrival, bounded, reading paused when full."""

from __future__ import annotations

from protocol.client_messages import Connect
from protocol.errors import RemoteProtocolError
from server.sync.inbox import Inbox, receive
from tests.helpers.fake_transport import FakeTransport

CONNECT = '{"type":"Connect","sessionId":"s","connectionCount":0}'


def test_a_frame_is_parsed_on_arrival_with_its_size() -> None:
    received = receive(CONNECT)
    assert isinstance(received.message, Connect)
    assert received.size == len(CONNECT)
    wide = receive('{"type":"Connect","sessionId":"é","connectionCount":0}')
    assert wide.size >= len(wide.message.session_id.encode()) + 50  # a bound, never less


def test_a_bad_frame_is_kept_as_its_error_in_its_place() -> None:
    assert isinstance(receive("{not json").message, RemoteProtocolError)
    binary = receive(b"\x00")
    assert isinstance(binary.message, RemoteProtocolError)
    assert "binary frames are not supported" in str(binary.message)


def test_reading_pauses_past_a_full_message_and_resumes_when_taken() -> None:
    transport = FakeTransport()
    inbox = Inbox(transport, max_frames=100, max_bytes=10_000, pause_at=100)
    inbox.put(receive(CONNECT), 60)
    assert not transport.paused
    inbox.put(receive(CONNECT), 60)
    assert transport.paused
    assert len(inbox.take()) == 2 and not inbox.items
    assert not transport.paused


def test_past_its_bounds_the_inbox_overflows_and_drops_everything() -> None:
    transport = FakeTransport()
    by_count = Inbox(transport, max_frames=2, max_bytes=10_000, pause_at=10_000)
    for _ in range(3):
        by_count.put(receive(CONNECT), 1)
    assert by_count.overflowed and not by_count.items
    by_bytes = Inbox(transport, max_frames=100, max_bytes=100, pause_at=10_000)
    by_bytes.put(receive(CONNECT), 101)
    assert by_bytes.overflowed and not by_bytes.items
    by_bytes.put(receive(CONNECT), 1)
    assert not by_bytes.items  # nothing more is taken once it overflowed
