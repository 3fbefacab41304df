"""The Messaging API: rate limits, retries, and what each answer means.

- One token bucket per endpoint keeps notify inside LINE's published limits.
- `send` retries 429 (rate limit), 5xx and timeouts with exponential backoff and full
  jitter, and the caller's request (with its `X-Line-Retry-Key`) is sent again unchanged.
- 409 means LINE accepted this retry key before: the message is delivered, once.
- Any other 4xx is final: LINE's message is returned, nothing is retried.

Requests go out through one aiohttp session with kept-alive connections, their bodies
serialised once by the caller (`body`): the messages were validated against the SDK's models
when they were queued, so sending does not build those models again. line-bot-sdk's generated
client built and sanitised its models for every request: notify's CPU per resident in the
reservations race went from 4.8 to 3.3 ms without it (bench/RESULTS.md).
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


REPLY = "/v2/bot/message/reply"
PUSH = "/v2/bot/message/push"
MULTICAST = "/v2/bot/message/multicast"


def serialised(value: Any) -> str:
    """Compact JSON with the text as it is (LINE takes UTF-8; escapes would only lengthen it)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def body(messages: str, **fields: Any) -> bytes:
    """A request's JSON body: `fields` under LINE's camelCase names, and `messages`, the JSON array
    of the messages as queued, spliced in without being parsed. Built once per request, so every
    retry sends the very same bytes."""
    return f'{serialised(fields)[:-1]},"messages":{messages}}}'.encode()


Call = Callable[[float], Awaitable["Response"]]
"""Sends one request with the given timeout (`LineApi.post`); the same request every time."""


@dataclass(frozen=True)
class Response:
    """LINE's answer to one request, whatever its status."""

    status: int
    headers: Mapping[str, str]
    body: bytes


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
    """The HTTP session, the buckets and the retry loop. One per process; `close` on shutdown."""

    def __init__(
        self,
        host: str,
        access_token: str,
        *,
        limits: Mapping[Endpoint, RateLimit] = LINE_LIMITS,
        timeout: float = 10.0,
        backoff: Backoff | None = None,
        max_connections: int = 64,
    ) -> None:
        self.host = host.rstrip("/")
        self._headers = {"Authorization": f"Bearer {access_token}", "Content-Type": "application/json"}
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self.buckets = {name: TokenBucket(limit) for name, limit in limits.items()}
        self.timeout = timeout
        self.backoff = backoff or LINE_BACKOFF
        self.requests: Counter[Endpoint] = Counter()
        """Requests sent so far, by endpoint."""
        self.answers: Counter[tuple[Endpoint, str]] = Counter()
        """Answers so far by (endpoint, outcome): "accepted", "already_accepted", "refused", "no_answer"."""

    def session(self) -> aiohttp.ClientSession:
        """Made on first use: aiohttp binds a session to the running event loop."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections)
            self._session = aiohttp.ClientSession(headers=self._headers, connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        timeout: float,
        data: bytes | None = None,
        *,
        retry_key: str | None = None,
    ) -> Response:
        """One HTTP request; raises only when no answer came (`TimeoutError`, `aiohttp.ClientError`)."""
        headers = {"X-Line-Retry-Key": retry_key} if retry_key is not None else None
        async with self.session().request(
            method,
            self.host + path,
            data=data,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            return Response(response.status, response.headers, await response.read())

    def post(self, path: str, data: bytes, *, retry_key: str | None = None) -> Call:
        """The call `send` and `attempt` make: `data` to `path`, the same bytes every time."""

        async def call(timeout: float) -> Response:
            return await self.request("POST", path, timeout, data, retry_key=retry_key)

        return call

    async def quota(self) -> tuple[int | None, int] | None:
        """This month's message quota (None: no limit) and what has been used of it; None when LINE
        does not answer (a preview, so no retries)."""
        try:
            limit = await self.request("GET", "/v2/bot/message/quota", self.timeout)
            used = await self.request("GET", "/v2/bot/message/quota/consumption", self.timeout)
            if limit.status != 200 or used.status != 200:
                raise ValueError(f"LINE answered {limit.status} and {used.status}")
            quota, consumption = json.loads(limit.body), json.loads(used.body)
            value = quota["value"] if quota.get("type") == "limited" else None
            return (None if value is None else int(value)), int(consumption["totalUsage"])
        except (TimeoutError, aiohttp.ClientError, ValueError, KeyError, TypeError) as exc:
            log.warning("no message quota from LINE: %s", exc)
            return None

    async def attempt(self, endpoint: Endpoint, call: Call) -> Answer:
        """One request, no retry: waits for the endpoint's token, then classifies the answer."""
        bucket = self.buckets.get(endpoint)
        if bucket is not None:
            await bucket.acquire()
        self.requests[endpoint] += 1
        try:
            response = await call(self.timeout)
        except (TimeoutError, aiohttp.ClientError) as exc:
            answer = Answer(
                "no_answer", 0, message=f"no answer from LINE: {type(exc).__name__} {exc}".strip()
            )
        else:
            answer = _answer(response)
        self.answers[endpoint, answer.outcome] += 1
        return answer

    async def send(self, endpoint: Endpoint, call: Call) -> Answer:
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


def _answer(response: Response) -> Answer:
    status = response.status
    if 200 <= status < 300:
        return Answer("accepted", status, request_id=_header(response.headers, REQUEST_ID))
    body: Any = {}
    if response.body:
        try:
            body = json.loads(response.body)
        except ValueError:
            body = {"message": response.body.decode(errors="replace")[:500]}
    message = str(body.get("message", "")) if isinstance(body, dict) else str(body)[:500]
    details = body.get("details", []) if isinstance(body, dict) else []
    if status == 409:
        accepted = _header(response.headers, ACCEPTED_REQUEST_ID)
        return Answer("already_accepted", 409, request_id=accepted, message=message)
    return Answer(
        "refused",
        status,
        request_id=_header(response.headers, REQUEST_ID),
        message=message,
        details=[d for d in details if isinstance(d, dict)] if isinstance(details, list) else [],
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return str(value) if value is not None else None
