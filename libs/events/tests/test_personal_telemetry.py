from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from cityhall.events import telemetry
from cityhall.events.consumer import IdempotentConsumer
from cityhall.events.db import Connection, Pool
from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.events.envelope import Envelope
from cityhall.events.personal import FORGOTTEN, PersonalData, SubjectForgotten
from cityhall.events.relay import OutboxRelay
from cityhall.events.store import NO_STREAM, EventStore
from cityhall.events.testing import wait_for
from cityhall.events.testing.samples import CounterIncremented


async def test_personal_fields_round_trip_and_read_as_forgotten_after_forget(pool: Pool) -> None:
    vault = PersonalData(pool)
    name = await vault.encrypt("U123", "山田 花子")
    other = await vault.encrypt("U456", "佐藤 一郎")
    assert "山田" not in name
    assert await vault.decrypt(name) == "山田 花子"
    assert await vault.forget("U123") is True
    assert await vault.decrypt(name) == FORGOTTEN  # a marker, never an exception
    assert await vault.decrypt(other) == "佐藤 一郎"  # others are untouched
    with pytest.raises(SubjectForgotten):
        await vault.encrypt("U123", "again")


async def test_a_field_moved_to_another_subject_does_not_decrypt(pool: Pool) -> None:
    vault = PersonalData(pool)
    token = await vault.encrypt("U1", "secret")
    await vault.encrypt("U2", "x")
    forged = token.replace("pd1:U1:", "pd1:U2:")
    with pytest.raises(ValueError):
        await vault.decrypt(forged)


async def test_one_trace_from_request_through_store_bus_and_handler(
    store: EventStore, pool: Pool, fresh_database: str
) -> None:
    exporter = InMemorySpanExporter()
    telemetry.configure("test", exporter=exporter)
    bus = EmbeddedBus(fresh_database, poll_interval=0.1)
    await bus.start()
    handled: list[str] = []

    async def handler(env: Envelope, conn: Connection) -> None:
        handled.append(env.subject)

    with telemetry.tracer().start_as_current_span("POST /callback", kind=SpanKind.SERVER) as request_span:
        await store.append(
            "counter-t",
            NO_STREAM,
            [Envelope.wrap(CounterIncremented(by=1), source="/s", subject="counter-t")],
        )
        trace_id = request_span.get_span_context().trace_id
    relay = OutboxRelay(store, bus)
    consumer = IdempotentConsumer("c-trace", ["events.testing"], handler, bus=bus, pool=pool)
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(consumer.run())]
    try:
        await wait_for(lambda: handled == ["counter-t"], timeout=20)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await bus.stop()
    spans = exporter.get_finished_spans()
    names_in_trace = {s.name for s in spans if s.context.trace_id == trace_id}
    assert {"POST /callback", "publish events.testing", "process events.testing"} <= names_in_trace
