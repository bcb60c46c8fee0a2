"""flask-sock served by gevent's pywsgi, as flask-sock documents for gevent:
monkey.patch_all() first, then gevent.pywsgi.WSGIServer(app).serve_forever().

Routes: /ws/echo/, /ws/bcast/ (joins, says "ready", idles) and
POST /broadcast/?msg=X (loops over the members and sends).
"""

from gevent import monkey

monkey.patch_all()

# Imports after patch_all, as the flask-sock/gevent docs require.
import argparse  # noqa: E402

from flask import Flask, request  # noqa: E402
from flask_sock import Sock  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402
from simple_websocket import Server as WebSocket  # noqa: E402

app = Flask(__name__)
# No server-side pings during a run and room for S3's 1 MiB messages.
app.config["SOCK_SERVER_OPTIONS"] = {"ping_interval": None, "max_message_size": 16 * 1024 * 1024}
sock = Sock(app)
MEMBERS: set[WebSocket] = set()


@sock.route("/ws/echo/")  # type: ignore[untyped-decorator]
def echo(ws: WebSocket) -> None:
    while True:
        ws.send(ws.receive())


@sock.route("/ws/bcast/")  # type: ignore[untyped-decorator]
def bcast(ws: WebSocket) -> None:
    MEMBERS.add(ws)
    try:
        ws.send("ready")
        while True:
            ws.receive()
    finally:
        MEMBERS.discard(ws)


@app.post("/broadcast/")
def broadcast() -> str:
    msg = request.args.get("msg", "")
    for ws in list(MEMBERS):
        try:
            ws.send(msg)
        except Exception:  # a member closing mid-loop must not stop the fan-out
            MEMBERS.discard(ws)
    return f"{len(MEMBERS)}\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # log=None: no per-request access log line, like every other server here.
    WSGIServer((args.host, args.port), app, log=None, backlog=2048).serve_forever()
