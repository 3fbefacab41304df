"""The one error type the emulator raises; app.py turns it into LINE's error response."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cityhall.line_emulator.spec import ErrorDetail


class LineApiError(Exception):
    """An HTTP error with LINE's body: `{"message": ..., "details": [...]}` (details only if any)."""

    def __init__(
        self,
        status: int,
        message: str,
        details: Sequence[ErrorDetail] = (),
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, **self.extra}
        if self.details:
            body["details"] = [d.as_json() for d in self.details]
        return body


def bad_request(details: Sequence[ErrorDetail]) -> LineApiError:
    return LineApiError(400, f"The request body has {len(details)} error(s)", details)


def not_found(message: str = "Not found") -> LineApiError:
    return LineApiError(404, message)
