"""What the web app does not trust: request sizes, file paths from clients, k, and who may log in.

Every value a web client sends is hostile until checked here: bodies over
a limit are refused before anything reads them (`BodyLimit`), a file path is
accepted only inside Gradio's upload folder (`uploaded_files`), k is a
whole number from 1 to 10 (`checked_web_k`), and with a login configured
nothing but the login page is served to a client that has not logged in,
and failed logins slow down per client address (`LoginGuard`, `LoginThrottle`).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import math
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

# Request bodies larger than these are refused with 413 before anything reads them: an upload
# carries at most a few 5 MB files; a question with its (bounded) history is far below 4 MB.
MAX_UPLOAD_BODY = 64 * 2**20
MAX_BODY = 4 * 2**20


def uploaded_files(files, upload_root: Path) -> tuple[list[str], list[str]]:
    """The files in Gradio's upload folder, and a refusal line for anything else.

    The second of two checks (the first is Gradio's own, switched on in
    `build_app`): a handler never adds a file from outside the folder where
    Gradio's /upload route writes, after resolving links and `..`.
    """
    root = upload_root.resolve()
    accepted, refused = [], []
    for f in files if isinstance(files, (list, tuple)) else [files]:
        raw = f.get("path") if isinstance(f, dict) else f if isinstance(f, str) else getattr(f, "path", None)
        name = Path(str(raw)).name if raw else "?"
        try:
            path = Path(str(raw)).resolve(strict=True) if isinstance(raw, (str, os.PathLike)) else None
        except (OSError, RuntimeError, ValueError):
            path = None
        if path is None or not path.is_relative_to(root) or path == root or not path.is_file():
            refused.append(f"⚠️ 未添加 refused {name}: 不是通过本页上传的文件 not a file uploaded through this page")
            continue
        accepted.append(str(path))
    return accepted, refused


class BodyLimit:
    """ASGI middleware: refuse request bodies over a size limit with 413, declared or streamed.

    Uvicorn and Starlette read any body size; a client could make every
    worker hold (and Gradio echo) tens of MB.
    """

    def __init__(self, app, limit: int, upload_limit: int) -> None:
        self.app, self.limit, self.upload_limit = app, limit, upload_limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.upload_limit if scope.get("path", "").rstrip("/").endswith("/upload") else self.limit
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await self._refuse(send, limit)
        seen = 0
        refused = False

        async def limited_receive():
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    await self._refuse(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not refused:  # the 413 has gone out: whatever the app says after it is dropped
                await send(message)

        return await self.app(scope, limited_receive, guarded_send)

    @staticmethod
    async def _refuse(send, limit: int) -> None:
        body = f"请求过大 request body larger than {limit // 2**20} MB".encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


DEFAULT_K = 5  # the k slider's default


def checked_web_k(value) -> int:
    """k from a web client: a number from 1 to 10 (None: the default), anything else is an error in one sentence."""
    if value is None:
        return DEFAULT_K
    # a slider sends 5 or 5.0; true, 2.5, "5", 1e999 and NaN are not whole numbers of passages
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole or not 1 <= value <= 10:
        raise ValueError("k 必须是 1 到 10 的整数 (k must be a whole number from 1 to 10)")
    return int(value)


def host_warning(host: str, auth: str | None) -> str | None:
    """The warning printed when the app is shared beyond this machine without a login."""
    if host in ("127.0.0.1", "localhost", "::1") or auth:
        return None
    return (f"WARNING: binding {host} shares the app with your network without a login; "
            "add --auth USER:PASS (or set RAG_AUTH)")


class LoginThrottle:
    """Failed logins per client address: the first FREE_FAILURES cost nothing, each further one
    doubles the wait before the next try (FIRST_WAIT, 2×, 4×, … at most MAX_WAIT seconds). A
    success, or FORGET_AFTER seconds without a failure, starts the count again, so the right user
    is never locked out for longer than MAX_WAIT; guessing drops from ~500 tries a second (issue 20)
    to about 300 a day. At most MAX_CLIENTS addresses are remembered (the oldest are forgotten),
    so a client cannot fill the memory with addresses. Thread-safe.

    Clients are told apart by the address of the connection (IPv6 by its /64 network); app.py never
    believes X-Forwarded-For unless told which proxy sends it (``--forwarded-allow-ips``): any local
    client could otherwise pick its own address, to guess freely or to lock another out. Behind a
    proxy not named there every client has the proxy's address, and one guesser slows everyone.
    The right user shares the wait of whoever guesses from the same address.
    """

    FREE_FAILURES = 5
    FIRST_WAIT = 2.0
    MAX_WAIT = 300.0
    FORGET_AFTER = 3600.0
    MAX_CLIENTS = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # address -> (count, last failure)
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Seconds `client` must wait before its next login attempt (0: it may try now)."""
        with self._lock:
            return self._wait(_key(client), self._clock())

    def _wait(self, key: str, now: float) -> float:
        count, last = self._failures.get(key, (0, 0.0))
        if count and now - last > self.FORGET_AFTER:
            del self._failures[key]
            return 0.0
        if count < self.FREE_FAILURES:
            return 0.0
        delay = min(self.MAX_WAIT, self.FIRST_WAIT * 2 ** (count - self.FREE_FAILURES))
        return max(0.0, last + delay - now)

    def attempt(self, client: str) -> float:
        """Start a login attempt: 0 when `client` may try now, and the attempt is then counted as a
        failure until `succeeded` says otherwise; else the seconds to wait (nothing counted). Counting
        before the check runs keeps a burst of concurrent guesses to the free ones (1,000 at once
        were all let through when failures were counted after the response)."""
        with self._lock:
            key, now = _key(client), self._clock()
            wait = self._wait(key, now)
            if wait == 0:
                self._count(key, now)
            return wait

    def failed(self, client: str) -> None:
        with self._lock:
            self._count(_key(client), self._clock())

    def _count(self, key: str, now: float) -> None:
        count, _ = self._failures.pop(key, (0, 0.0))
        self._failures[key] = (count + 1, now)
        while len(self._failures) > self.MAX_CLIENTS:
            self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(_key(client), None)


def _key(client: str) -> str:
    """The address a client is counted under: an IPv4 address, or the /64 network of an IPv6 one
    (one subscriber's whole block, which it could otherwise rotate through)."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


# What a browser needs to show the login form and log in (Gradio 6: the page, its scripts, styles
# and fonts, the theme, POST /login); the readiness probe, which then says only ready or not.
_OPEN_EXACT = {"/", "/login", "/login/", "/healthz", "/theme.css", "/favicon.ico"}
_OPEN_PREFIXES = ("/assets/", "/static/")


class LoginGuard:
    """ASGI middleware for an app with a login: a client that has not logged in reaches only the
    login page and its assets (`_OPEN_EXACT`, `_OPEN_PREFIXES`); everything else (the API, the
    article pages, Gradio's /config, /gradio_api/startup-events, uploads) answers 401. A client is
    logged in with the chat's login cookie (`logged_in(cookie header)`, Gradio's own tokens) or with
    HTTP Basic credentials (scripts, article links opened elsewhere). Every login attempt, the
    form's and Basic's, passes `LoginThrottle`: 429 with Retry-After while a client must wait.
    """

    def __init__(self, app, user: str, password: str, logged_in: Callable[[str], bool],
                 throttle: LoginThrottle | None = None) -> None:
        self.app, self.user, self.password, self.logged_in = app, user, password, logged_in
        self.throttle = throttle or LoginThrottle()

    def _basic_ok(self, header: bytes) -> bool:
        kind, _, encoded = header.decode("latin-1").partition(" ")
        if kind.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, ValueError):
            return False
        # compare_digest on bytes: it refuses str with characters outside ASCII
        return bool(sep) and secrets.compare_digest(user.encode(), self.user.encode()) \
            and secrets.compare_digest(password.encode(), self.password.encode())

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path, method = scope.get("path", ""), scope.get("method", "GET")
        client = (scope.get("client") or ("?",))[0]
        headers = dict(scope.get("headers") or [])
        if scope["type"] == "http" and method == "POST" and path.rstrip("/") == "/login":
            wait = self.throttle.attempt(client)
            if wait > 0:
                return await _respond(send, 429, "登录尝试过多 too many failed logins; try again later",
                                      [(b"retry-after", str(math.ceil(wait)).encode())])
            status = 0

            async def watched(message):
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            await self.app(scope, receive, watched)
            if status == 200:
                self.throttle.succeeded(client)
            return None
        if self.logged_in(headers.get(b"cookie", b"").decode("latin-1")):
            return await self.app(scope, receive, send)
        if b"authorization" in headers:
            wait = self.throttle.attempt(client)
            if wait > 0:
                return await _respond(send, 429, "登录尝试过多 too many failed logins; try again later",
                                      [(b"retry-after", str(math.ceil(wait)).encode())], scope)
            if self._basic_ok(headers[b"authorization"]):
                self.throttle.succeeded(client)
                return await self.app(scope, receive, send)
        elif scope["type"] == "http" and path == "/":
            return await self.app(scope, receive, _without_api_info(send))
        elif scope["type"] == "http" and (path in _OPEN_EXACT or path.startswith(_OPEN_PREFIXES)):
            return await self.app(scope, receive, send)
        return await _respond(send, 401, "需要登录 login required", [(b"www-authenticate", b'Basic realm="rag"')], scope)


# Gradio's page embeds a description of every API endpoint and its parameters, also in the login
# page it serves to a client that has not logged in (issue 20 review): emptied there.
_API_INFO = re.compile(rb"<script>window\.gradio_api_info = .*?;</script>", re.S)


def _without_api_info(send):
    """`send` for the page served before a login: the body is held (a few KB), the API description
    in it replaced by `{}`, and the length corrected."""
    start: dict | None = None
    body: list[bytes] = []

    async def held(message):
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body" or start is None:
            return await send(message)
        body.append(message.get("body", b""))
        if message.get("more_body"):
            return
        data = _API_INFO.sub(b"<script>window.gradio_api_info = {};</script>", b"".join(body))
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await send({**start, "headers": [*headers, (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})

    return held


async def _respond(send, status: int, message: str, headers: list[tuple[bytes, bytes]], scope=None) -> None:
    if scope is not None and scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"error": message}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})
