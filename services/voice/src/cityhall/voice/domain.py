"""The opinion, pure: its commands and events, and its decider (`decide(command, opinion) -> events`,
`evolve(opinion, event)`). An opinion (stream `opinion-<id>`, on `events.voice`) is submitted once
by a resident and answered once by staff; its text and the answer are tokens sealed with the
resident's key (`cityhall.events.personal`), never clear text."""

import uuid
from dataclasses import dataclass, replace

from cityhall.events import decider
from cityhall.events.envelope import Event
from cityhall.events.store import Streams
from cityhall.voice.messages import CATEGORIES, REFUSED

SOURCE = "/services/voice"
OPINION_STREAMS = Streams("opinion", "V")
opinion_stream, receipt_number = OPINION_STREAMS.stream, OPINION_STREAMS.number


class Submit(decider.Command):
    opinion_id: uuid.UUID
    user_id: str
    category: str
    text: str


class Answer(decider.Command):
    text: str
    by: str


Command = Submit | Answer


class VoiceEvent(Event):
    DOMAIN = "voice"


class OpinionSubmitted(VoiceEvent):
    opinion_id: uuid.UUID
    number: str
    user_id: str
    category: str
    text: str


class OpinionAnswered(VoiceEvent):
    opinion_id: uuid.UUID
    text: str
    by: str


def refused(reason: str) -> decider.DomainError:
    return decider.DomainError(reason, REFUSED[reason])


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
            return [OpinionSubmitted(number=receipt_number(command.opinion_id), **command.model_dump())]
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


opinion_decider = decider.Decider[Command, Opinion](Opinion(), decide, evolve)
