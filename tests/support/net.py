"""Ports and raw sockets on 127.0.0.1: a free port, waiting for a listener,
raw HTTP requests, reading up to a marker; a process's resident memory."""

from __future__ import annotations

import socket
import subprocess
import time

from tests.support.timing import TIMEOUT


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = TIMEOUT * 3) -> None:
    """Wait until ``process`` listens on ``port`` of 127.0.0.1; fail if it exits first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None:
                output = process.communicate()[0] if process.stdout else ""
                raise RuntimeError(
                    f"the server exited ({process.returncode}): {output}") from None
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"nothing listened on port {port} within {timeout} s") from None
            time.sleep(0.05)


def raw_request(server, head: bytes, *, read_until_close=True):
    """Send raw bytes as a request; return (status, headers dict, body)."""
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        sock.sendall(head)
        data = b""
        while b"\r\n\r\n" not in data or read_until_close:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def recv_until(sock, marker: bytes) -> bytes:
    """Read from ``sock`` (its own timeout bounds each read) until ``marker`` arrived."""
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection ended before {marker!r}: {data!r}"
        data += chunk
    return data


def rss_kib(pid: int) -> int:
    """A process's resident memory, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")
