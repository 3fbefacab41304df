"""An opinion (stream `opinion-<id>`): submitted once by a resident, answered once by staff.

Pure: `decide(command, opinion) -> events`, `evolve(opinion, event) -> opinion`. The opinion's
text and the answer travel as tokens sealed with the resident's key (`cityhall.events.personal`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict

from cityhall.events.decider import Decider, DomainError
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
    """Sealed with the resident's key."""


class Answer(BaseModel):
    model_config = ConfigDict(frozen=True)
    text: str
    """Sealed with the resident's key."""
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


@dataclass(frozen=True)
class Opinion:
    opinion_id: uuid.UUID | None = None
    user_id: str = ""
    answered: bool = False

    @property
    def number(self) -> str:
        return receipt_number(self.opinion_id) if self.opinion_id else ""


def decide(command: Command, opinion: Opinion) -> list[Event]:
    match command:
        case Submit():
            if opinion.opinion_id is not None:
                raise DomainError("already_submitted", "このご意見はすでに受け付けています。")
            if command.category not in CATEGORIES and command.category != "":
                raise DomainError("unknown_category", "分野が正しくありません。")
            number = receipt_number(command.opinion_id)
            return [OpinionSubmitted(number=number, **command.model_dump())]
        case Answer():
            if opinion.opinion_id is None:
                raise DomainError("not_submitted", "このご意見は見つかりません。")
            if opinion.answered:
                raise DomainError("already_answered", "このご意見にはすでに回答しています。")
            return [OpinionAnswered(opinion_id=opinion.opinion_id, text=command.text, by=command.by)]


def evolve(opinion: Opinion, event: Event) -> Opinion:
    match event:
        case OpinionSubmitted():
            return Opinion(event.opinion_id, event.user_id)
        case OpinionAnswered():
            return replace(opinion, answered=True)
    return opinion


opinion_decider: Decider[Command, Opinion] = Decider(Opinion(), decide, evolve)
