"""Wait for a freshly started server to be ready, without trusting the first connections.

While a BentoML server starts, its port can accept a connection and reset it before a
worker is listening ("Connection reset by peer"). ``bentoml.SyncHTTPClient`` tolerates only
connect errors and timeouts while it waits, so a reset at the wrong moment made it raise
(seen in CI). This loop treats every transport error as "not yet", stops at once if the
server process has exited, and gives up after ``timeout`` seconds with what it last saw.
"""

from __future__ import annotations

import http.client
import subprocess
import time
import urllib.error
import urllib.request


class ServerNotReady(RuntimeError):
    """The server exited, or did not answer ready in time."""


def wait_until_ready(
    url: str,
    proc: subprocess.Popen | None = None,
    timeout: float = 180.0,
    path: str = "/readyz",
    poll: float = 0.5,
) -> float:
    """Poll ``url + path`` until it answers 200; the seconds it took.

    ``proc``: the server's process; if it exits first, raise at once with its exit code.
    """
    start = time.monotonic()
    last = "no answer yet"
    while True:
        if proc is not None and proc.poll() is not None:
            raise ServerNotReady(f"server at {url} exited with code {proc.returncode} ({last})")
        try:
            with urllib.request.urlopen(url + path, timeout=5) as resp:
                if resp.status == 200:
                    return time.monotonic() - start
                last = f"{path} answered {resp.status}"
        except urllib.error.HTTPError as exc:  # 503 while the model loads
            last = f"{path} answered {exc.code}"
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() - start > timeout:
            raise ServerNotReady(f"server at {url} not ready after {timeout:.0f} s ({last})")
        time.sleep(poll)


def stop(proc: subprocess.Popen, grace: float = 30.0) -> None:
    """Ask a server process to stop (SIGTERM); kill it if it has not within ``grace`` s."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
