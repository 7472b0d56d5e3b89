"""The one error hierarchy of innspector-tb, shared by every room.

The server maps the request errors to HTTP statuses (`server/http.py`); everything else says what went
wrong in the user's terms. Each room's specific errors subclass one of these, so a caller can catch
what it can handle (a `LookupError`, a `ValueError`) without knowing the module that raised it.
"""

from __future__ import annotations


class InnspectorError(Exception):
    """Base of every error innspector-tb raises on purpose; its message is meant for the user."""


class BadRequest(InnspectorError, ValueError):
    """A request the server refuses (answered 400); `field` says where in the request, if known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class LimitExceeded(BadRequest):
    """A request that would exceed a limit on work or output size; `limit` names it (answered 400)."""

    def __init__(
        self,
        message: str,
        limit: str,
        value: float | None = None,
        maximum: float | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.limit = limit
        self.value = value
        self.maximum = maximum


class Busy(InnspectorError):
    """The server is at its limit of concurrent heavy work (answered 503 with Retry-After)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestRefused(BadRequest):
    """A request refused for its form, not its content: `status` is 413 (body too large) or 415 (not
    JSON)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class NotFound(InnspectorError, LookupError):
    """An unknown run, layer, unit, step or dataset (answered 404)."""

    def __str__(self) -> str:  # LookupError would quote the message
        return str(self.args[0]) if self.args else ""


class FormatError(InnspectorError, ValueError):
    """Something on disk or in an event file that cannot be read: corrupted, truncated or foreign."""


class ConfigurationError(InnspectorError, ValueError):
    """A misconfiguration of the callback, the summary ops or a header, refused before training starts."""


class LoggingError(InnspectorError, RuntimeError):
    """Logging failed while training ran (a summary op used wrongly, the writer process gone)."""
