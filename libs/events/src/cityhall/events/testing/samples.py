"""Event schemas for tests of the backbone itself (and a worked example of an upcaster)."""

from __future__ import annotations

from typing import Any

from cityhall.events.envelope import Event, registry


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
