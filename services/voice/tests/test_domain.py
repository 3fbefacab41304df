import uuid

import pytest

from cityhall.events.decider import DomainError
from cityhall.voice.domain import Answer, Opinion, OpinionAnswered, OpinionSubmitted, Submit, opinion_decider

ID = uuid.UUID("12345678-1234-5678-1234-567812345678")
SUBMIT = Submit(opinion_id=ID, user_id="U1", category="town", text="pd1:U1:x")


def decide(command: Submit | Answer, *history: object) -> list[object]:
    state = opinion_decider.fold(list(history))  # type: ignore[arg-type]
    return list(opinion_decider.decide(command, state))


def test_a_submitted_opinion_gets_its_receipt_number() -> None:
    [event] = decide(SUBMIT)
    assert isinstance(event, OpinionSubmitted)
    assert (event.number, event.user_id, event.category) == ("V-12345678", "U1", "town")


def test_an_opinion_is_submitted_once_and_answered_once() -> None:
    [submitted] = decide(SUBMIT)
    with pytest.raises(DomainError, match="すでに受け付けています"):
        decide(SUBMIT, submitted)
    [answered] = decide(Answer(text="pd1:U1:y", by="voice-clerk"), submitted)
    assert isinstance(answered, OpinionAnswered)
    with pytest.raises(DomainError) as refused:
        decide(Answer(text="pd1:U1:z", by="voice-clerk"), submitted, answered)
    assert refused.value.reason == "already_answered"
    assert opinion_decider.fold([submitted, answered]) == Opinion(ID, "U1", answered=True)


def test_nothing_answers_an_opinion_never_submitted_and_an_unknown_category_is_refused() -> None:
    with pytest.raises(DomainError, match="見つかりません"):
        decide(Answer(text="t", by="voice-clerk"))
    with pytest.raises(DomainError, match="分野"):
        decide(SUBMIT.model_copy(update={"category": "sports"}))
