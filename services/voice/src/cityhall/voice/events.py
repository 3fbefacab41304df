"""voice's commands and events. An opinion (stream `opinion-<id>`, on `events.voice`) is
submitted once by a resident and answered once by staff; its text and the answer are tokens
sealed with the resident's key (`cityhall.events.personal`), never clear text."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict

from cityhall.events.envelope import Event, registry

SOURCE = "/services/voice"
CATEGORIES = {"town": "まちづくり", "welfare": "福祉・健康", "children": "子育て・教育", "other": "その他"}


def opinion_stream(opinion_id: uuid.UUID) -> str:
    return f"opinion-{opinion_id}"


def receipt_number(opinion_id: uuid.UUID) -> str:
    """What the resident and the clerk quote: short, and the same wherever it is shown."""
    return "V-" + opinion_id.hex[:8].upper()


class Submit(BaseModel):
    model_config = ConfigDict(frozen=True)
    opinion_id: uuid.UUID
    user_id: str
    category: str
    text: str


class Answer(BaseModel):
    model_config = ConfigDict(frozen=True)
    text: str
    by: str


Command = Submit | Answer


@registry.register
class OpinionSubmitted(Event):
    TYPE = "cityhall.voice.opinion_submitted.v1"
    opinion_id: uuid.UUID
    number: str
    user_id: str
    category: str
    text: str


@registry.register
class OpinionAnswered(Event):
    TYPE = "cityhall.voice.opinion_answered.v1"
    opinion_id: uuid.UUID
    text: str
    by: str
