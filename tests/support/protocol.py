"""A server-side protocol past its handshake, for the protocol's unit tests."""

from __future__ import annotations

from websockets.protocol import State

from django_ws.protocol import WebSocketProtocol, build_request


def open_protocol(*, headers: tuple[tuple[str, str], ...] = (), **kwargs) -> WebSocketProtocol:
    protocol = WebSocketProtocol(**kwargs)
    request = build_request("/", [
        ("Host", "example.com"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
        *headers,
    ])
    protocol.receive_data(request.serialize())
    parsed = protocol.events_received()[0]
    protocol.send_response(protocol.accept(parsed))
    protocol.data_to_send()
    assert protocol.state is State.OPEN
    return protocol
