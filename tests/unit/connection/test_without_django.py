"""The connection core runs without Django: no settings, not even imported.

It takes a ConnectionOptions (django_ws.options) and nothing else from the
project; django_ws.conf is the adapter that builds those from the settings
(and passes the redacted query parameters' names to its log lines).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.support.timing import TIMEOUT

SCRIPT = textwrap.dedent(
    """
    import sys

    import gevent
    from gevent import socket
    from websockets.client import ClientProtocol
    from websockets.protocol import State
    from websockets.uri import parse_uri

    from django_ws.connection import WebSocket, open_handshake
    from django_ws.options import ConnectionOptions
    from django_ws.protocol import build_request

    server_end, client_end = socket.socketpair()
    headers = [
        ("Host", "127.0.0.1"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
    ]
    # A query string: the log lines redact it without the settings.
    request = build_request("/core/?token=s3cret&room=1", headers)
    options = ConnectionOptions(compression=None)
    protocol, response = open_handshake(request, options)
    websocket = WebSocket(sock=server_end, request=request, protocol=protocol,
                          response=response, options=options)

    def view():
        for message in websocket:
            websocket.send(message.upper())
        websocket.finish(failed=False)

    served = gevent.spawn(view)
    client = ClientProtocol(parse_uri("ws://127.0.0.1/core/?token=s3cret&room=1"),
                            state=State.OPEN)
    client.send_text(b"hello")

    def flush():
        for data in client.data_to_send():
            client_end.sendall(data)

    def receive_until(done):
        buffered = b""
        with gevent.Timeout(float(sys.argv[1])):
            while not done(events) and (data := client_end.recv(65536)):
                buffered += data
                if b"\\r\\n\\r\\n" in buffered or heads:
                    if not heads:
                        head, _, buffered = buffered.partition(b"\\r\\n\\r\\n")
                        heads.append(head)
                    client.receive_data(buffered)
                    buffered = b""
                    events.extend(client.events_received())

    heads, events = [], []
    flush()
    receive_until(lambda events: any(e.opcode.name == "TEXT" for e in events))
    client.send_close(1000)
    flush()
    receive_until(lambda events: any(e.opcode.name == "CLOSE" for e in events))
    served.join()
    head = heads[0]
    texts = [e.data for e in events if e.opcode.name == "TEXT"]
    assert head.startswith(b"HTTP/1.1 101"), head
    assert texts == [b"HELLO"], texts
    assert websocket.close_code == 1000, websocket.close_code
    described = websocket._describe()
    assert described.startswith("/core/?token=[redacted]&room=1 from"), described
    leaked = sorted(name for name in sys.modules if name == "django" or name.startswith("django."))
    assert not leaked, leaked
    print("OK")
    """
)


def test_the_core_serves_a_connection_without_django_or_settings():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(TIMEOUT)],
        env=env, capture_output=True, text=True, timeout=TIMEOUT * 4,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "OK"
