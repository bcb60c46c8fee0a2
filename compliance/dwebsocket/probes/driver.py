"""Drive the probe views with websocket-client and record what each shows.

``observe(base, mode=..., timeout=...)`` runs the probes of one server mode
(``MODES``: its environment for the probe project's settings) against a
server at ``base`` (``http://127.0.0.1:PORT``) and returns, per probe, what
the view recorded (``view``) and what the client saw (``client``: frames,
statuses). Used by ``compliance/dwebsocket/record.py`` on dwebsocket 0.5.12
and by ``tests/live/test_compat_dwebsocket.py`` on the compatibility layer.
"""

import json
import time
import urllib.error
import urllib.request
import uuid

import websocket

from .modes import PROBE_MODES


class Run:
    def __init__(self, base, timeout):
        self.base = base.rstrip("/")
        self.ws_base = "ws" + self.base[len("http"):]
        self.timeout = timeout

    def key(self):
        return uuid.uuid4().hex

    def connect(self, path, **options):
        options.setdefault("timeout", self.timeout)
        # Invalid UTF-8 in a text frame is recorded, not refused.
        return websocket.create_connection(self.ws_url(path), skip_utf8_validation=True,
                                           **options)

    def ws_url(self, path):
        return self.ws_base + path

    def handshake(self, path, **options):
        """The status of a handshake: 101, or the refusal's status."""
        try:
            ws = self.connect(path, **options)
        except websocket.WebSocketBadStatusException as exc:
            return exc.status_code, None
        except (websocket.WebSocketException, ValueError) as exc:
            return f"malformed response ({type(exc).__name__})", None
        return 101, ws

    def http(self, path):
        try:
            with urllib.request.urlopen(self.base + path, timeout=self.timeout) as response:
                return [response.status, response.read().decode()]
        except urllib.error.HTTPError as exc:
            return [exc.code, None]

    def result(self, key):
        """What the view recorded under ``key``, once it has."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{self.base}/results/{key}/",
                                        timeout=self.timeout) as response:
                value = json.load(response)["value"]
            if value is not None:
                return value
            time.sleep(0.02)
        return "no result"

    def frames(self, ws, limit=20):
        """The frames the client receives, until the close frame.

        Read before the view's result: a view that closes waits for the
        client's answer to its close frame (django_ws does, for up to
        WEBSOCKET_CLOSE_TIMEOUT) before it records anything.
        """
        seen = []
        try:
            while len(seen) < limit:
                opcode, frame = ws.recv_data_frame(control_frame=True)
                name = websocket.ABNF.OPCODE_MAP.get(opcode, str(opcode))
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    data = frame.data
                    code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
                    seen.append(["close", code, data[2:].decode("utf-8", "replace")])
                    break
                seen.append([name, repr(frame.data)])
        except websocket.WebSocketTimeoutException:
            seen.append(["timeout"])
        except websocket.WebSocketProtocolException as exc:
            seen.append(["bad frame", str(exc)])
        except (websocket.WebSocketConnectionClosedException, OSError):
            seen.append(["connection lost"])
        finally:
            _drop(ws)
        return seen


def _drop(ws):
    try:
        ws.shutdown()
    except Exception:  # already gone: nothing to drop
        pass


def _close(ws):
    """The client's closing handshake: close frame, the server's answer, TCP end."""
    try:
        ws.close(timeout=2)
    except (websocket.WebSocketException, OSError):
        pass


# -- the probes: one function each, returning what the client and the view saw -----


def received(run):
    key = run.key()
    ws = run.connect(f"/received/?key={key}")
    ws.send("héllo")
    ws.send_binary(b"\x00\xff")
    client = run.frames(ws)
    return {"view": run.result(key), "client": client}


def send_kinds(run):
    """One connection per kind: a corrupt frame would garble the next ones."""
    return {kind: run.frames(run.connect(f"/send_kinds/?kind={kind}"))
            for kind in ("ascii_str", "non_ascii_str", "utf8_bytes", "non_utf8_bytes")}


def iteration(run):
    key = run.key()
    ws = run.connect(f"/iteration/?key={key}")
    ws.send("a")
    ws.send_binary(b"b")
    _close(ws)
    return {"view": run.result(key)}


def wait_close(run):
    key = run.key()
    ws = run.connect(f"/wait_close/?key={key}")
    ws.send("a")
    _close(ws)
    return {"view": run.result(key)}


def wait_timeout(run):
    key = run.key()
    ws = run.connect(f"/wait_timeout/?key={key}")
    first = ws.recv()
    ws.send("x")
    client = [repr(first), *run.frames(ws)]
    return {"view": run.result(key), "client": client}


def read_fallback(run):
    key = run.key()
    ws = run.connect(f"/read_fallback/?key={key}")
    client = run.frames(ws)
    return {"view": run.result(key), "client": client}


def count_messages(run):
    key = run.key()
    ws = run.connect(f"/count_messages/?key={key}")
    ws.recv()  # "ready"
    for n in range(3):
        ws.send(f"m{n}")
    run.http(f"/release/{key}/")
    client = run.frames(ws)
    return {"view": run.result(key), "client": client}


def has_messages(run):
    key = run.key()
    ws = run.connect(f"/has_messages/?key={key}")
    ws.recv()  # "ready"
    ws.send("x")
    client = run.frames(ws)
    return {"view": run.result(key), "client": client}


def poll_close(run):
    key = run.key()
    ws = run.connect(f"/poll_close/?key={key}")
    ws.send("a")
    _close(ws)
    return {"view": run.result(key)}


def count_close(run):
    key = run.key()
    ws = run.connect(f"/count_close/?key={key}")
    ws.recv()  # "ready"
    _close(ws)
    run.http(f"/release/{key}/")
    return {"view": run.result(key)}


def after_close_marker(run):
    key = run.key()
    ws = run.connect(f"/after_close_marker/?key={key}")
    ws.send("a")
    _close(ws)
    return {"view": run.result(key)}


def client_ping(run):
    key = run.key()
    ws = run.connect(f"/client_ping/?key={key}")
    ws.ping("p")
    ws.send("t")
    client = run.frames(ws)
    return {"view": run.result(key), "client": client}


def fragmented(run):
    key = run.key()
    ws = run.connect(f"/fragmented/?key={key}")
    abnf = websocket.ABNF
    ws.send_frame(abnf.create_frame("a", abnf.OPCODE_TEXT, fin=0))
    ws.send_frame(abnf.create_frame("b", abnf.OPCODE_CONT, fin=1))
    run.frames(ws)  # 0.5.12 then fails on the continuation: a close or a reset, by timing
    return {"view": run.result(key)}


def large(run):
    key = run.key()
    ws = run.connect(f"/large/?key={key}")
    ws.send("x" * (2 * 1024 * 1024))
    client = run.frames(ws)
    return {"view": run.result(key), "client": client}


def is_closed(run):
    key = run.key()
    ws = run.connect(f"/is_closed/?key={key}")
    client = run.frames(ws)
    return {"view": run.result(key), "client": client}


def send_after_client_close(run):
    key = run.key()
    ws = run.connect(f"/send_after_client_close/?key={key}")
    _close(ws)
    return {"view": run.result(key)}


def send_after_close(run):
    key = run.key()
    ws = run.connect(f"/send_after_close/?key={key}")
    client = run.frames(ws)
    return {"view": run.result(key), "client": client}


def close_code_reason(run):
    return {"client": run.frames(run.connect("/close_code_reason/"))}


def close_default(run):
    return {"client": run.frames(run.connect("/close_default/"))}


def view_returns(run):
    return {"client": run.frames(run.connect("/view_returns/"))}


def view_raises(run):
    return {"client": run.frames(run.connect("/view_raises/"))}


def push_to_departed(run):
    """The "dict of sockets": an HTTP view sends to a client that left."""
    key = run.key()
    ws = run.connect(f"/register/?key={key}")
    ws.recv()  # "registered"
    ws.send_close()  # a browser tab closing: its close frame, then TCP goes
    _drop(ws)
    time.sleep(0.2)
    return {"push": run.http(f"/push/{key}/"), "view": run.result(key)}


def early_accept(run):
    """Is the client connected while the view blocks before its first send?"""
    key = run.key()
    try:
        ws = run.connect(f"/early_accept/?key={key}", timeout=run.timeout / 4)
    except (websocket.WebSocketTimeoutException, TimeoutError):
        run.http(f"/release/{key}/")
        return {"connected_before_first_send": False}
    run.http(f"/release/{key}/")
    return {"connected_before_first_send": True, "client": run.frames(ws)}


def plain_http(run):
    return {"http": run.http("/plain_http/"),
            "client": run.frames(run.connect("/plain_http/"))}


def required(run):
    return {"http": run.http("/required/"), "client": run.frames(run.connect("/required/"))}


def cross_origin(run):
    status, ws = run.handshake("/view_returns/", origin="http://elsewhere.example")
    return {"status": status, "client": run.frames(ws) if ws else None}


def flagged(run):
    status, ws = run.handshake("/flagged/")
    client = None
    if ws is not None:
        ws.send("m")
        client = run.frames(ws)
    return {"status": status, "client": client, "http": run.http("/flagged/")}


def flagged_required(run):
    return {"http": run.http("/flagged_required/")}


def subprotocol_offered(run):
    """The client offers a subprotocol that the view does not choose."""
    try:
        ws = run.connect("/view_returns/", subprotocols=["chat"])
    except websocket.WebSocketException as exc:
        return {"handshake": type(exc).__name__}
    return {"handshake": "101", "subprotocol": ws.getsubprotocol(), "client": run.frames(ws)}


def accept_all(run):
    """WEBSOCKET_ACCEPT_ALL with the middleware: an undecorated, unflagged view."""
    status, ws = run.handshake("/undecorated_echo/")
    client = None
    if ws is not None:
        ws.send("m")
        client = run.frames(ws)
    return {"status": status, "client": client, "http": run.http("/undecorated_echo/")}


def undecorated(run):
    return {"status": run.handshake("/undecorated/")[0], "http": run.http("/undecorated/")}


PROBES = [
    received, send_kinds, iteration, wait_close, wait_timeout, read_fallback, count_messages,
    has_messages, poll_close, count_close, after_close_marker, client_ping, fragmented, large,
    is_closed, send_after_client_close, send_after_close, close_code_reason, close_default,
    view_returns, view_raises, push_to_departed, early_accept, plain_http, required,
    cross_origin, subprotocol_offered, flagged, flagged_required, undecorated, accept_all,
]


def observe(base, *, mode, timeout=10.0, only=None):
    """Run the probes of one server mode (a key of ``MODES``)."""
    run = Run(base, timeout)
    observed = {}
    for probe in PROBES:
        name = probe.__name__
        if PROBE_MODES.get(name, "decorators") != mode or (only and name not in only):
            continue
        try:
            observed[name] = probe(run)
        except Exception as exc:  # recorded: one probe's failure is an observation too
            observed[name] = {"driver error": f"{type(exc).__name__}: {exc}"}
    return observed
