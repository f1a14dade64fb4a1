"""One error root. The web edge maps each class to an HTTP status (REST) or to an error
frame with ``code`` (sockets; a refused handshake closes with 1008). Nothing below the
edge knows about either."""

from __future__ import annotations


class HubError(Exception):
    """Root of every error the hub raises on purpose."""

    status = 500
    code = "internal"

    def __init__(self, reason: str = "", *, code: str | None = None) -> None:
        super().__init__(reason or self.code)
        self.reason = reason or self.code
        if code is not None:
            self.code = code


class BadInput(HubError):
    """The request or frame is malformed or fails validation; nothing changed."""

    status = 400
    code = "bad_input"


class TooLarge(BadInput):
    status = 413
    code = "too_large"


class Unauthorized(HubError):
    status = 401
    code = "unauthorized"


class Forbidden(HubError):
    status = 403
    code = "forbidden"


class NotFound(HubError):
    status = 404
    code = "not_found"


class Gone(HubError):
    """The thing existed but is no longer available (e.g. expired provider media)."""

    status = 410
    code = "gone"


class BadGateway(HubError):
    """An upstream provider failed or answered something we cannot use."""

    status = 502
    code = "bad_gateway"


class Conflict(HubError):
    status = 409
    code = "conflict"


class RateLimited(HubError):
    """Too many requests from one caller in a window; retry after ``retry_after_s``."""

    status = 429
    code = "rate_limited"

    def __init__(self, reason: str = "", *, retry_after_s: int = 60) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class ConfigError(HubError):
    """Settings or configuration data is invalid."""

    code = "config"


class Overloaded(HubError):
    """A bounded resource is full; the client should back off and retry."""

    status = 503
    code = "overloaded"
