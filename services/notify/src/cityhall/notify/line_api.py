"""The Messaging API through line-bot-sdk v3: rate limits, retries, and what each answer means.

- One token bucket per endpoint keeps notify inside LINE's published limits.
- `send` retries 429 (rate limit), 5xx and timeouts with exponential backoff and full
  jitter, and the caller's request (with its `X-Line-Retry-Key`) is sent again unchanged.
- 409 means LINE accepted this retry key before: the message is delivered, once.
- Any other 4xx is final: LINE's message is returned, nothing is retried.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import aiohttp
from linebot.v3.messaging import (
    ApiException,
    ApiResponse,
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    Message,
    MulticastRequest,
)

from cityhall.events.backoff import Backoff
from cityhall.line.ratelimit import LINE_RATE_LIMITS, RateLimit, TokenBucket

log = logging.getLogger(__name__)

Endpoint = Literal["reply", "push", "multicast", "broadcast", "narrowcast"]

REQUEST_ID = "x-line-request-id"
ACCEPTED_REQUEST_ID = "x-line-accepted-request-id"
INVALID_REPLY_TOKEN = "Invalid reply token"
MONTHLY_LIMIT = "You have reached your monthly limit."

_RETRY_KEY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://cityhall.invalid/notify/retry-key")


def retry_key(idempotency_key: str, chunk: int | None = None) -> str:
    """`X-Line-Retry-Key` for a push (chunk None) or for one multicast chunk: the same request
    always gets the same key, so a resend after a crash is answered 409 instead of delivered twice."""
    name = idempotency_key if chunk is None else f"{idempotency_key}#multicast-{chunk}"
    return str(uuid.uuid5(_RETRY_KEY_NAMESPACE, name))


class _PreparedMulticast(MulticastRequest):
    """A multicast whose body the SDK serialises without pydantic's walk over its 500 ids
    (`MulticastRequest.to_dict` costs ~1.2 ms of the ~2 ms a request took to encode)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "to": self.to,
            "messages": [m.to_dict() for m in self.messages],
            "notificationDisabled": self.notification_disabled,
        }


def multicast_request(
    to: list[str], messages: list[Message], *, notification_disabled: bool = False
) -> MulticastRequest:
    """The SDK's request for validated recipients (at most 500): its per-item validation would
    cost more than the request itself at 200 requests/s, so it is constructed, not validated."""
    request: MulticastRequest = _PreparedMulticast.construct(
        to=to, messages=messages, notification_disabled=notification_disabled
    )
    return request


# --- rate limits ---------------------------------------------------------------------------


# LINE's limits, with small bursts for the per-second ones so that LINE's own bucket is never
# drained by a burst and network jitter cannot push us over.
LINE_LIMITS: Mapping[Endpoint, RateLimit] = {
    "push": replace(LINE_RATE_LIMITS["push"], burst=200),
    "reply": replace(LINE_RATE_LIMITS["reply"], burst=200),
    "multicast": replace(LINE_RATE_LIMITS["multicast"], burst=20),
    "broadcast": replace(LINE_RATE_LIMITS["broadcast"], burst=1),
    "narrowcast": replace(LINE_RATE_LIMITS["narrowcast"], burst=1),
}


# --- answers -------------------------------------------------------------------------------


LINE_BACKOFF = Backoff(base=0.2, cap=30.0, give_up_after=600.0)
"""Retries of one request: jittered, for ten minutes before it is recorded as failed (LINE keeps
retry keys 24 h)."""


@dataclass(frozen=True)
class Answer:
    """What LINE said to one request, after any retries."""

    outcome: Literal["accepted", "already_accepted", "refused", "no_answer", "gave_up"]
    status: int
    """HTTP status of the last answer; 0 when none came (timeout, connection error)."""
    request_id: str | None = None
    """`x-line-request-id`, or for 409 the `x-line-accepted-request-id` of the first request."""
    message: str = ""
    details: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 1
    uncertain: bool = False
    """Some attempt got no clear answer (timeout or 5xx): LINE may have acted on it."""

    @property
    def delivered(self) -> bool:
        return self.outcome in ("accepted", "already_accepted")

    @property
    def invalid_reply_token(self) -> bool:
        return self.outcome == "refused" and self.status == 400 and self.message == INVALID_REPLY_TOKEN


class LineApi:
    """The SDK client, its buckets and the retry loop. One per process; `close` on shutdown."""

    def __init__(
        self,
        configuration: Configuration,
        *,
        limits: Mapping[Endpoint, RateLimit] = LINE_LIMITS,
        timeout: float = 10.0,
        backoff: Backoff | None = None,
        max_connections: int = 64,
    ) -> None:
        configuration.connection_pool_maxsize = max_connections
        self.client = AsyncApiClient(configuration)
        self.api = AsyncMessagingApi(self.client)
        self.buckets = {name: TokenBucket(limit) for name, limit in limits.items()}
        self.timeout = timeout
        self.backoff = backoff or LINE_BACKOFF
        self.requests: Counter[Endpoint] = Counter()
        """Requests sent so far, by endpoint."""
        self.answers: Counter[tuple[Endpoint, str]] = Counter()
        """Answers so far by (endpoint, outcome): "accepted", "already_accepted", "refused", "no_answer"."""

    async def close(self) -> None:
        await self.client.close()

    async def quota(self) -> tuple[int | None, int] | None:
        """This month's message quota (None: no limit) and what has been used of it; None when LINE
        does not answer (a preview, so no retries)."""
        try:
            limit = await self.api.get_message_quota(_request_timeout=self.timeout)
            used = await self.api.get_message_quota_consumption(_request_timeout=self.timeout)
        except (ApiException, TimeoutError, aiohttp.ClientError) as exc:
            log.warning("no message quota from LINE: %s", exc)
            return None
        return (limit.value if limit.type == "limited" else None), int(used.total_usage)

    async def attempt(self, endpoint: Endpoint, call: Callable[[float], Awaitable[ApiResponse]]) -> Answer:
        """One request, no retry: waits for the endpoint's token, then classifies the answer."""
        bucket = self.buckets.get(endpoint)
        if bucket is not None:
            await bucket.acquire()
        self.requests[endpoint] += 1
        try:
            response = await call(self.timeout)
        except ApiException as exc:
            answer = _answer_from_error(exc)
        except (TimeoutError, aiohttp.ClientError) as exc:
            answer = Answer(
                "no_answer", 0, message=f"no answer from LINE: {type(exc).__name__} {exc}".strip()
            )
        else:
            answer = Answer(
                "accepted", response.status_code, request_id=_header(response.headers, REQUEST_ID)
            )
        self.answers[endpoint, answer.outcome] += 1
        return answer

    async def send(self, endpoint: Endpoint, call: Callable[[float], Awaitable[ApiResponse]]) -> Answer:
        """`attempt` until LINE gives a final answer or the backoff gives up.

        `call(timeout)` must send the very same request each time (same body, same retry key).
        """
        started = time.monotonic()
        attempts, uncertain = 0, False
        while True:
            attempts += 1
            answer = await self.attempt(endpoint, call)
            if answer.status == 0 or answer.status >= 500:
                uncertain = True
            if not retryable(answer):
                break
            delay = self.backoff.delay(attempts)
            if self.backoff.gives_up(attempts, time.monotonic() + delay - started):
                answer = Answer(
                    "gave_up",
                    answer.status,
                    request_id=answer.request_id,
                    message=f"gave up after {attempts} attempts: {answer.message}",
                )
                break
            log.info("%s: %s (attempt %d), retrying in %.2fs", endpoint, answer.message, attempts, delay)
            await asyncio.sleep(delay)
        return Answer(
            answer.outcome,
            answer.status,
            answer.request_id,
            answer.message,
            answer.details,
            attempts,
            uncertain,
        )


def retryable(answer: Answer) -> bool:
    """429 (but not the monthly quota, which no retry fixes soon), 5xx, and no answer at all."""
    if answer.outcome == "no_answer":
        return True
    if answer.outcome != "refused":
        return False
    return (answer.status == 429 and answer.message != MONTHLY_LIMIT) or answer.status >= 500


def _answer_from_error(exc: ApiException) -> Answer:
    status = int(exc.status or 0)
    body: Any = {}
    if exc.body:
        try:
            body = json.loads(exc.body)
        except (TypeError, ValueError):
            body = {"message": str(exc.body)[:500]}
    message = str(body.get("message", exc.reason or "")) if isinstance(body, dict) else str(body)[:500]
    details = body.get("details", []) if isinstance(body, dict) else []
    if status == 409:
        accepted = _header(exc.headers, ACCEPTED_REQUEST_ID)
        return Answer("already_accepted", 409, request_id=accepted, message=message)
    return Answer(
        "refused",
        status,
        request_id=_header(exc.headers, REQUEST_ID),
        message=message,
        details=[d for d in details if isinstance(d, dict)] if isinstance(details, list) else [],
    )


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    value = headers.get(name)
    return str(value) if value is not None else None
