"""Starting app.py for a test: a free port on 127.0.0.1, readiness polled with a deadline."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    """True once something accepts connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def wait_until(ready, proc: subprocess.Popen, timeout: float, what: str) -> None:
    """Poll `ready()` until it is true; fail if `proc` exits or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout} s")
        time.sleep(0.1)


def get(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8")


def is_ready(url: str) -> bool:
    try:
        status, body = get(url + "/healthz", timeout=2)
        return status == 200 and json.loads(body)["ready"]
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def running_app(index: Path, corpus: Path, log: Path, *args: str, wait: bool = True, timeout: float = 240,
                env: dict | None = None):
    """app.py on a free port; yields its URL (after /healthz says ready when `wait`), stops it after."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log, "w") as out:  # a file, not a pipe: a full pipe would block the server
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port), "--index", str(index), "--corpus", str(corpus), *args],
            cwd=ROOT, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})},
            stdout=out, stderr=subprocess.STDOUT, text=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while wait and not is_ready(url):
                if proc.poll() is not None:
                    raise RuntimeError(f"app exited: {log.read_text()[-2000:]}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"app not ready after {timeout} s: {log.read_text()[-2000:]}")
                time.sleep(0.3)
            while not wait and get_or_none(url + "/") is None:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise TimeoutError(f"app page not up: {log.read_text()[-2000:]}")
                time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def get_or_none(url: str) -> int | None:
    try:
        return get(url, timeout=2)[0]
    except OSError:
        return None
