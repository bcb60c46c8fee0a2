"""The websockets library's own asyncio server (stdlib asyncio loop, as documented).

Routes: /ws/echo/, /ws/bcast/ (joins, says "ready", idles) and
POST /broadcast/?msg=X, served from process_request with websockets.broadcast.
"""

from __future__ import annotations

import argparse
import asyncio
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

MAX_SIZE = 16 * 1024 * 1024  # S3 sends 1 MiB messages
MEMBERS: set[ServerConnection] = set()


def process_request(connection: ServerConnection, request: Request) -> Response | None:
    url = urlsplit(request.path)
    if url.path == "/broadcast/":
        # websockets >= 14 parses body-less POSTs, so the trigger needs no extra server.
        msg = parse_qs(url.query).get("msg", [""])[0]
        broadcast(MEMBERS, msg)
        return connection.respond(200, f"{len(MEMBERS)}\n")
    if url.path not in ("/ws/echo/", "/ws/bcast/"):
        return connection.respond(404, "not found\n")
    return None


async def handler(ws: ServerConnection) -> None:
    path = urlsplit(ws.request.path).path if ws.request else ""
    if path == "/ws/echo/":
        async for message in ws:
            await ws.send(message)
    elif path == "/ws/bcast/":
        MEMBERS.add(ws)
        try:
            await ws.send("ready")
            async for _ in ws:
                pass
        except ConnectionClosed:
            pass  # S4 drops its 5,000 members without a close frame; not worth a traceback each
        finally:
            MEMBERS.discard(ws)


async def main(host: str, port: int) -> None:
    server: Server
    async with serve(
        handler, host, port, process_request=process_request, max_size=MAX_SIZE, backlog=2048
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
