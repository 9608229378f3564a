"""The library's error types: one base, `RagError`, for everything it raises on purpose.

Every message is one sentence saying what is wrong and what to do, so the
CLI, the evals and the app catch `RagError` and show the message as it is.
Each class also derives from the built-in type it used to be (ValueError or
RuntimeError), so older `except ValueError` code keeps working.
"""

from __future__ import annotations


class RagError(Exception):
    """Base of the library's errors; the message is meant for the user."""


class ConfigError(RagError, ValueError):
    """A setting that cannot work (unknown store, bad chunk size, no generator configured)."""


class QueryError(RagError, ValueError):
    """A question, k or mode the library refuses (empty, not text, k < 1, unknown mode)."""


class CorpusError(RagError, ValueError):
    """A corpus file or folder that cannot be read."""


class ModelLoadError(RagError, RuntimeError):
    """A model that cannot be loaded (missing local path, hub unreachable, missing package)."""


class E5FormatError(RagError, ValueError):
    """The bundled encoder's weight file is missing or damaged."""


class ReaderError(RagError, RuntimeError):
    """The trained reader cannot be loaded."""


class IndexStateError(RagError, RuntimeError):
    """Base for index problems."""


class IndexMissingError(IndexStateError):
    pass


class IndexCorruptError(IndexStateError):
    pass


class StaleIndexError(IndexStateError):
    """The index does not match its corpus or code. `added`: the corpus files it lacks when those are
    the only difference (an add killed before its index switch), which a build can pick up."""

    def __init__(self, message: str, added: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.added = added


class BuildLockedError(IndexStateError):
    pass
