from __future__ import annotations

import uuid

import pytest

from cityhall.events.envelope import Envelope, Event, EventRegistry, UnknownEventType, registry
from cityhall.events.testing.samples import CounterIncremented, NameGiven


def test_kafka_binary_mode_round_trip_keeps_every_attribute() -> None:
    cause = Envelope.wrap(CounterIncremented(by=1), source="/services/test", subject="counter-1")
    env = Envelope.wrap(
        CounterIncremented(by=2),
        source="/services/test",
        subject="counter-1",
        caused_by=cause,
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    key, value, headers = env.to_kafka("counter-1")
    names = {k for k, _ in headers}
    assert {"ce_id", "ce_type", "ce_source", "ce_subject", "ce_specversion", "ce_traceparent"} <= names
    assert {"ce_correlationid", "ce_causationid", "content-type"} <= names
    back = Envelope.from_kafka(key, value, headers)
    assert back.id == env.id
    assert back.type == "cityhall.testing.counter_incremented.v1"
    assert back.subject == "counter-1"
    assert back.correlation_id == str(cause.id)
    assert back.causation_id == str(cause.id)
    assert back.traceparent == env.traceparent
    assert back.event() == CounterIncremented(by=2)


def test_reading_an_old_version_gives_the_new_model() -> None:
    event = registry.load("cityhall.testing.name_given.v1", {"name": "山田 花子"})
    assert event == NameGiven(family_name="山田", given_name="花子")


def test_unknown_type_and_bad_payload_are_refused() -> None:
    with pytest.raises(UnknownEventType):
        registry.load("cityhall.testing.nothing.v1", {})
    with pytest.raises(ValueError):
        registry.load(CounterIncremented.TYPE, {"by": "many"})


def test_registry_refuses_malformed_type_names() -> None:
    class Bad(Event):
        TYPE = "counter.incremented"

    with pytest.raises(ValueError):
        EventRegistry().register(Bad)


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("ce_id", b"1"), ("ce_type", b"t")],  # no source, no specversion
        [
            ("ce_specversion", b"1.0"),
            ("ce_id", b"x"),
            ("ce_source", b"/s"),
            ("ce_type", b"t"),
        ],  # id not a UUID
    ],
)
def test_garbage_records_raise_value_error(headers: list[tuple[str, bytes]]) -> None:
    with pytest.raises(ValueError):
        Envelope.from_kafka(b"k", b"{}", headers)


def test_non_json_value_is_value_error() -> None:
    env = Envelope.wrap(CounterIncremented(by=1), source="/s", subject="counter-1", id=uuid.uuid4())
    key, _value, headers = env.to_kafka("k")
    with pytest.raises(ValueError):
        Envelope.from_kafka(key, b"\xff not json", headers)
