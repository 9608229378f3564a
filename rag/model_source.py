"""Where a model named by the user comes from: a local folder or file, or the Hugging Face hub.

A value that looks like a path (`./x`, `../x`, `/x`, `~/x`, `a/b/c`, a
trailing slash) is a local path: when it does not exist the load fails at
once, without a network attempt. Anything else (`BAAI/bge-m3`) is a hub id,
tried only when the hub answers within a few seconds, so that a machine
without internet gets one sentence instead of a hang.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from rag.errors import ModelLoadError


def looks_like_local_path(name: str) -> bool:
    """True for values a user means as a path; hub ids are `name` or `org/name`."""
    name = name.strip()
    return (name.startswith(("/", "./", "../", "~", ".\\", "..\\")) or name in (".", "..") or "\\" in name
            or name.endswith("/") or name.count("/") >= 2 or Path(name).is_absolute())


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when the hub (or $HF_ENDPOINT) accepts a connection within `timeout`; False offline."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def require_hub(name: str, what: str, alternatives: str) -> None:
    """Raise ModelLoadError unless `name` (not on disk) can be fetched from the hub.

    Args:
        name: the model as the user gave it.
        what: "embedding model", "generator model", … for the message.
        alternatives: what the user can use instead, for the message.
    """
    if looks_like_local_path(name):
        raise ModelLoadError(f"{what} {name!r} is a path that does not exist ({Path(name).expanduser().absolute()}); "
                             f"give an existing folder, or {alternatives}")
    if not hub_reachable():
        raise ModelLoadError(f"{what} {name!r} is not on disk and the Hugging Face hub cannot be reached; "
                             f"use {alternatives}")
