"""The two deciders: an association's members and a circular's reads and reminders."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cityhall.community.domain import (
    REMIND_EVERY,
    Approve,
    CircularPosted,
    CircularRead,
    Decline,
    JoinApproved,
    Leave,
    Post,
    Read,
    ReadersReminded,
    Register,
    Remind,
    RequestJoin,
    association_decider,
    circular_decider,
    member_id,
)
from cityhall.events.decider import DomainError

A = uuid.UUID(int=1)
C = uuid.UUID(int=2)
NOW = datetime(2026, 7, 1, 9, tzinfo=UTC)


def refused(reason: str, run: object) -> None:
    assert callable(run)
    with pytest.raises(DomainError) as caught:
        run()
    assert caught.value.reason == reason


def test_an_association_is_registered_once_in_a_known_district() -> None:
    d = association_decider
    register = Register(association_id=A, name="本町一丁目町会", district="honcho", by="kyodo-clerk")
    registered = d.fold(d.decide(register, d.initial_state))
    refused("already_registered", lambda: d.decide(register, registered))
    refused(
        "unknown_district",
        lambda: d.decide(register.model_copy(update={"district": "mars"}), d.initial_state),
    )
    refused("bad_name", lambda: d.decide(register.model_copy(update={"name": " "}), d.initial_state))
    refused("no_association", lambda: d.decide(RequestJoin(user_id="U1", name="x"), d.initial_state))


def test_a_request_is_decided_once_and_a_member_can_leave() -> None:
    d = association_decider
    a = d.fold(
        d.decide(Register(association_id=A, name="本町会", district="honcho", by="c"), d.initial_state)
    )
    asked = d.fold(d.decide(RequestJoin(user_id="U1", name="sealed"), a), a)
    assert asked.pending == {"U1"}
    refused("already_requested", lambda: d.decide(RequestJoin(user_id="U1", name="sealed"), asked))
    [approved] = d.decide(Approve(user_id="U1", by="officer-1"), asked)
    assert isinstance(approved, JoinApproved) and approved.member_id == member_id(A, "U1")
    member = d.fold([approved], asked)
    assert member.members == {"U1"} and not member.pending
    refused("not_pending", lambda: d.decide(Approve(user_id="U1", by="officer-1"), member))
    refused("not_pending", lambda: d.decide(Decline(user_id="U1", by="officer-1"), member))
    refused("already_member", lambda: d.decide(RequestJoin(user_id="U1", name="sealed"), member))
    left = d.fold(d.decide(Leave(user_id="U1"), member), member)
    assert not left.members
    refused("not_member", lambda: d.decide(Leave(user_id="U1"), left))


def test_a_circular_is_read_once_per_recipient_and_reminded_at_most_every_six_hours() -> None:
    d = circular_decider
    post = Post(
        circular_id=C,
        association_id=A,
        title="夏祭り",
        text="集会所へ",
        by="officer-1",
        recipients=["U1", "U2"],
    )
    [posted] = d.decide(post, d.initial_state)
    assert isinstance(posted, CircularPosted) and posted.number.startswith("K-")
    c = d.fold([posted])
    refused("already_posted", lambda: d.decide(post, c))
    refused("no_members", lambda: d.decide(post.model_copy(update={"recipients": []}), d.initial_state))
    [read] = d.decide(Read(user_id="U1"), c)
    assert isinstance(read, CircularRead)
    c = d.fold([read], c)
    assert d.decide(Read(user_id="U1"), c) == []  # a double tap: one read
    refused("not_recipient", lambda: d.decide(Read(user_id="U9"), c))
    [reminded] = d.decide(Remind(by="officer-1", at=NOW), c)
    assert isinstance(reminded, ReadersReminded) and reminded.user_ids == ["U2"]
    c = d.fold([reminded], c)
    refused("reminded_recently", lambda: d.decide(Remind(by="officer-1", at=NOW + timedelta(hours=1)), c))
    assert d.decide(Remind(by="officer-1", at=NOW + REMIND_EVERY), c)
    everyone = d.fold(d.decide(Read(user_id="U2"), c), c)
    refused("all_read", lambda: d.decide(Remind(by="officer-1", at=NOW + 2 * REMIND_EVERY), everyone))
