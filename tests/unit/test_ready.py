"""serving.ready: a server that resets its first connections is waited for, not failed on.

The CI failure it fixes: bentoml.SyncHTTPClient raised httpx.ReadError ("Connection reset
by peer") while a starting server's port reset connections.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading

import pytest

from serving.ready import ServerNotReady, wait_until_ready


def _flaky_server(resets: int, status: int = 200):
    """A loopback server that resets its first ``resets`` connections, then answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    seen = {"n": 0}

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            seen["n"] += 1
            if seen["n"] <= resets:  # RST instead of FIN: the peer sees ECONNRESET
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
                continue
            conn.recv(4096)
            reason = b"OK" if status == 200 else b"Service Unavailable"
            conn.sendall(
                b"HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                % (status, reason)
            )
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.getsockname()[1]}", seen


def test_connection_resets_while_starting_are_waited_out():
    srv, url, seen = _flaky_server(resets=3)
    try:
        wait_until_ready(url, timeout=30, poll=0.01)
    finally:
        srv.close()
    assert seen["n"] == 4


def test_a_server_that_stays_unready_times_out_with_what_it_answered():
    srv, url, _ = _flaky_server(resets=0, status=503)
    try:
        with pytest.raises(ServerNotReady, match=r"not ready after .*answered 503"):
            wait_until_ready(url, timeout=0.3, poll=0.05)
    finally:
        srv.close()


def test_a_server_process_that_exits_is_reported_at_once_with_its_code():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(ServerNotReady, match="exited with code 3"):
        wait_until_ready(f"http://127.0.0.1:{port}", proc, timeout=60)
