"""Gateway fuzzing: malformed and hostile webhook bodies never get a 500 and never publish an intent.

The gateway runs in-process as the runtime composes it, on the EmbeddedBus in a fresh database;
hypothesis sends it random bytes, hostile JSON (NaN, nulls, lone surrogates, NUL, huge numbers),
deep nesting, huge strings, and valid webhook events from `webhook.yml` with one field given a
wrong type or removed. Whether a body is malformed is decided by LINE's own schemas (the oracle),
not by the gateway's code.

After every example: the answer is never 500 (nor any other 5xx), and a malformed body changed
neither the gateway's store nor the bus.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.gateway import testing as line
from cityhall.gateway.declared import DOMAINS
from cityhall.gateway.spec import service
from cityhall.gateway.testing import WebhookSchemas, leaf_paths
from cityhall.line.webhooks import SIGNATURE_HEADER, sign
from cityhall.runtime.service import Settings
from cityhall.runtime.system import System

SECRET = "fuzz-channel-secret"
FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the checkout
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
SCHEMAS = WebhookSchemas()


@dataclass
class Outcome:
    status: int
    text: str


class InProcessGateway:
    """The gateway on its own event loop (hypothesis examples are synchronous)."""

    def __init__(self, dsn: str) -> None:
        self.runner = asyncio.Runner()
        self.bus = EmbeddedBus(dsn)
        self.system = System(
            # Every domain served: the gateway answers nothing itself, so a body leaves its intents only.
            Settings(database_url=dsn, line_channel_secret=SECRET, served_domains=DOMAINS),
            "distributed",
            self.bus,
            dsn,
        )
        self.runner.run(self._start())

    async def _start(self) -> None:
        await self.system.start([service])
        self.system.run_background()
        transport = httpx.ASGITransport(app=self.system.asgi(), raise_app_exceptions=False)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://gateway.test")

    def post(self, body: bytes, headers: dict[str, str]) -> Outcome:
        async def send() -> Outcome:
            response = await self.client.post("/callback", content=body, headers=headers)
            return Outcome(response.status_code, response.text)

        return self.runner.run(send())

    def signed(self, body: bytes) -> Outcome:
        return self.post(body, {"content-type": "application/json", SIGNATURE_HEADER: sign(SECRET, body)})

    def recorded(self) -> tuple[int, int]:
        """(intents in the gateway's store, records on the bus)."""

        async def count() -> tuple[int, int]:
            pool = self.system.services[0].context.pool
            assert pool is not None
            stored = await pool.fetchval("SELECT count(*) FROM events")
            published = await self.bus.pool.fetchval("SELECT count(*) FROM messages")
            return int(stored), int(published)

        return self.runner.run(count())

    def close(self) -> None:
        async def stop() -> None:
            await self.client.aclose()
            await self.system.stop()

        try:
            self.runner.run(stop())
        finally:
            self.runner.close()


@pytest.fixture
def gateway(fresh_database: str) -> Iterator[InProcessGateway]:
    gateway = InProcessGateway(fresh_database)
    try:
        yield gateway
    finally:
        gateway.close()


def refused(gateway: InProcessGateway, body: bytes, outcome: Outcome, before: tuple[int, int]) -> None:
    """The malformed body got a 4xx and left no trace."""
    assert outcome.status < 500, (outcome, body[:300])
    assert outcome.status in (400, 413), (outcome, body[:300])
    assert "Traceback" not in outcome.text
    assert gateway.recorded() == before, ("a malformed body was recorded or published", body[:300])


# --- strategies ---------------------------------------------------------------------------------------------

VECTORS = {
    "text": lambda u: line.text_message(u, "住民票を取りたいです"),
    "image": line.image_message,
    "location": lambda u: line.location_message(u, 35.68, 139.76, title="市役所", address="本町1-1"),
    "sticker": line.sticker_message,
    "postback": lambda u: line.postback(
        u, "domain=reservations&action=pick", {"datetime": "2026-12-01T10:00"}
    ),
    "follow": line.follow,
    "unfollow": line.unfollow,
    "unsend": lambda u: line.unsend(u, "325708"),
}

hostile_text = st.one_of(
    st.text(max_size=200),
    st.sampled_from(
        ["\x00", "a\x00b", "\ud800", "\udfff", "\u202e", "null", "", " " * 10, "%00", "${jndi:x}"]
    ),
)
hostile_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**300), max_value=10**300),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)
hostile_json = st.recursive(
    hostile_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(hostile_text, children, max_size=5),
    max_leaves=30,
)


def of_another_type(value: Any) -> st.SearchStrategy[Any]:
    """A JSON value whose type differs from `value`'s."""
    kinds: dict[str, st.SearchStrategy[Any]] = {
        "string": hostile_text,
        "integer": st.integers(min_value=-(2**70), max_value=2**70),
        "number": st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
        "boolean": st.booleans(),
        "null": st.none(),
        "object": st.dictionaries(st.text(max_size=5), hostile_scalars, max_size=3),
        "array": st.lists(hostile_scalars, max_size=3),
    }
    own = {
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
        type(None): "null",
        dict: "object",
        list: "array",
    }[type(value)]
    others = [
        strategy for name, strategy in kinds.items() if name != own and (own, name) != ("number", "integer")
    ]
    return st.one_of(others)


def get(value: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def replaced(body: dict[str, Any], path: tuple[str | int, ...], new: Any) -> dict[str, Any]:
    copied = copy.deepcopy(body)
    get(copied, path[:-1])[path[-1]] = new
    return copied


def removed(body: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    copied = copy.deepcopy(body)
    parent = get(copied, path[:-1])
    del parent[path[-1]]
    return copied


@st.composite
def valid_bodies(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(VECTORS)))
    body = line.webhook(VECTORS[kind](line.user_id()))
    assert SCHEMAS.check_body(body) == [], kind
    return body


@st.composite
def spec_violations(draw: st.DrawFn) -> dict[str, Any]:
    """A valid webhook with one field (per webhook.yml) of a wrong type, or removed."""
    body = draw(valid_bodies())
    paths = [p for p in leaf_paths(body) if p]
    path = draw(st.sampled_from(paths))
    if draw(st.booleans()) and isinstance(path[-1], str):
        mutated = removed(body, path)
    else:
        mutated = replaced(body, path, draw(of_another_type(get(body, path))))
    return mutated


def encode(value: Any, ensure_ascii: bool) -> bytes:
    # allow_nan: Python writes NaN and Infinity, which are not JSON.
    return json.dumps(value, ensure_ascii=ensure_ascii, allow_nan=True).encode("utf-8", "surrogatepass")


# --- the tests ------------------------------------------------------------------------------------------------


def test_control_a_valid_body_is_accepted_and_recorded(gateway: InProcessGateway) -> None:
    """Without this, an assertion that nothing was recorded could pass for the wrong reason."""
    before = gateway.recorded()
    outcome = gateway.signed(line.encode(line.webhook(line.follow(line.user_id()))))
    assert outcome.status == 200, outcome
    stored, published = gateway.recorded()
    assert (stored, published) == (before[0] + 1, before[1] + 1)


@FUZZ
@given(body=st.binary(max_size=4096), signature=st.one_of(st.none(), st.text(max_size=60)))
def test_random_bytes_with_any_signature(
    gateway: InProcessGateway, body: bytes, signature: str | None
) -> None:
    before = gateway.recorded()
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-line-signature"] = signature.encode("ascii", "ignore").decode()
    refused(gateway, body, gateway.post(body, headers), before)


@FUZZ
@given(body=st.binary(max_size=4096))
def test_random_bytes_with_a_valid_signature(gateway: InProcessGateway, body: bytes) -> None:
    before = gateway.recorded()
    refused(gateway, body, gateway.signed(body), before)


@FUZZ
@given(
    value=hostile_json,
    ensure_ascii=st.booleans(),
    where=st.sampled_from(["body", "events", "event", "field"]),
    data=st.data(),
)
def test_hostile_json_with_a_valid_signature(
    gateway: InProcessGateway, value: Any, ensure_ascii: bool, where: str, data: st.DataObject
) -> None:
    valid = line.webhook(line.text_message(line.user_id(), "こんにちは"))
    if where == "body":
        payload: Any = value
    elif where == "events":
        payload = {**valid, "events": value}
    elif where == "event":
        payload = {**valid, "events": [value]}
    else:  # one field of a valid event
        path = data.draw(st.sampled_from([p for p in leaf_paths(valid) if p]))
        payload = replaced(valid, path, value)
    body = encode(payload, ensure_ascii)
    before = gateway.recorded()
    outcome = gateway.signed(body)
    assert outcome.status < 500, (outcome, body[:300])
    try:
        conforming = SCHEMAS.check_body(json.loads(body)) == []
        conforming = conforming and b"NaN" not in body and b"Infinity" not in body
    except ValueError:
        conforming = False
    if not conforming:
        refused(gateway, body, outcome, before)


@FUZZ
@given(body=spec_violations())
def test_a_field_of_the_wrong_type_or_missing(gateway: InProcessGateway, body: dict[str, Any]) -> None:
    try:
        problems = SCHEMAS.check_body(body)
    except UnicodeEncodeError:  # a lone surrogate: not Unicode text, so not something LINE sends
        problems = ["a string is not valid Unicode"]
    if not problems:
        return  # the change happened to keep the body valid (e.g. an optional field removed)
    raw = encode(body, ensure_ascii=True)
    before = gateway.recorded()
    refused(gateway, raw, gateway.signed(raw), before)


@FUZZ
@given(
    depth=st.integers(min_value=33, max_value=200_000),
    where=st.sampled_from(["body", "event", "message", "text"]),
    kind=st.sampled_from(["[", '{"a":']),
)
def test_deep_nesting(gateway: InProcessGateway, depth: int, where: str, kind: str) -> None:
    close = "]" if kind == "[" else "}"
    nested = kind * depth + "1" + close * depth
    valid = line.encode(line.webhook(line.text_message(line.user_id(), "x")))
    if where == "body":
        body = nested.encode()
    elif where == "event":
        body = valid.replace(b'"events":[', b'"events":[' + nested.encode() + b",", 1)
    elif where == "message":
        body = valid.replace(b'"message":{', b'"message":{"deep":' + nested.encode() + b",", 1)
    else:
        body = valid.replace(b'"text":"x"', b'"text":' + nested.encode(), 1)
    before = gateway.recorded()
    refused(gateway, body, gateway.signed(body), before)


@FUZZ
@given(
    size=st.integers(min_value=70_000, max_value=1_300_000),
    where=st.sampled_from(["text", "webhookEventId", "userId", "replyToken", "unknown", "postback"]),
    char=st.sampled_from(["a", "あ", "😀"]),
)
def test_huge_strings(gateway: InProcessGateway, size: int, where: str, char: str) -> None:
    huge = char * (size // len(char.encode()))
    user = line.user_id()
    event = line.postback(user, "domain=guide") if where == "postback" else line.text_message(user, "x")
    if where == "text":
        event["message"]["text"] = huge
    elif where == "webhookEventId":
        event["webhookEventId"] = huge
    elif where == "userId":
        event["source"]["userId"] = huge
    elif where == "replyToken":
        event["replyToken"] = huge
    elif where == "unknown":
        event["somethingNew"] = huge
    else:
        event["postback"]["data"] = huge
    body = line.encode(line.webhook(event))
    before = gateway.recorded()
    refused(gateway, body, gateway.signed(body), before)
