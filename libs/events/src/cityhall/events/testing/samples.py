"""Event schemas for tests of the backbone itself (and a worked example of an upcaster), and a
read model of them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cityhall.events.db import Connection
from cityhall.events.envelope import Event, registry
from cityhall.events.store import RecordedEvent


@registry.register
class CounterIncremented(Event):
    TYPE = "cityhall.testing.counter_incremented.v1"
    by: int


@registry.register
class NameGiven(Event):
    """Version 2: v1 carried one `name` field; v2 splits it."""

    TYPE = "cityhall.testing.name_given.v2"
    family_name: str
    given_name: str


@registry.upcaster("cityhall.testing.name_given.v1", "cityhall.testing.name_given.v2")
def _split_name(data: dict[str, Any]) -> dict[str, Any]:
    family, _, given = data["name"].partition(" ")
    return {"family_name": family, "given_name": given}


class CounterTotals:
    """A projection: each counter's total of `CounterIncremented.by`, one row per stream."""

    def __init__(self, name: str = "counter_totals") -> None:
        self.name = name

    async def create(self, conn: Connection, table: str) -> None:
        await conn.execute(f'CREATE TABLE "{table}" (stream text PRIMARY KEY, total bigint NOT NULL)')

    async def apply(self, conn: Connection, table: str, events: Sequence[RecordedEvent]) -> None:
        await conn.executemany(
            f"""INSERT INTO "{table}" (stream, total) VALUES ($1, $2)
                ON CONFLICT (stream) DO UPDATE SET total = "{table}".total + excluded.total""",
            [(e.stream, e.envelope.data["by"]) for e in events],
        )
