"""The opinion's decider, pure: `decide(command, opinion) -> events`, `evolve(opinion, event)`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from cityhall.events.decider import Decider, DomainError
from cityhall.events.envelope import Event
from cityhall.voice.events import (
    CATEGORIES,
    Answer,
    Command,
    OpinionAnswered,
    OpinionSubmitted,
    Submit,
    receipt_number,
)

REFUSED = {
    "already_submitted": "このご意見はすでに受け付けています。",
    "unknown_category": "分野が正しくありません。",
    "not_submitted": "このご意見は見つかりません。",
    "already_answered": "このご意見にはすでに回答しています。",
    "bad_answer": "回答は1〜1000文字でご入力ください。",
    "forgotten": "この方の個人情報は消去済みのため、回答を送れません。",
}
"""Why a command is refused, as the clerk reads it (the reason travels in the page's URL)."""


def refused(reason: str) -> DomainError:
    return DomainError(reason, REFUSED[reason])


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
                raise refused("already_submitted")
            if command.category not in CATEGORIES and command.category != "":
                raise refused("unknown_category")
            number = receipt_number(command.opinion_id)
            return [OpinionSubmitted(number=number, **command.model_dump())]
        case Answer():
            if opinion.opinion_id is None:
                raise refused("not_submitted")
            if opinion.answered:
                raise refused("already_answered")
            return [OpinionAnswered(opinion_id=opinion.opinion_id, text=command.text, by=command.by)]


def evolve(opinion: Opinion, event: Event) -> Opinion:
    match event:
        case OpinionSubmitted():
            return Opinion(event.opinion_id, event.user_id)
        case OpinionAnswered():
            return replace(opinion, answered=True)
    return opinion


opinion_decider: Decider[Command, Opinion] = Decider(Opinion(), decide, evolve)
