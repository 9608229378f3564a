"""What the web app does not trust: request sizes, file paths from clients, k, and who may log in.

Every value a web client sends is hostile until checked here: bodies over
a limit are refused before anything reads them (`BodyLimit`), a file path is
accepted only inside Gradio's upload folder (`uploaded_files`), and k is a
whole number from 1 to 10 (`checked_web_k`).
"""

from __future__ import annotations

import os
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
