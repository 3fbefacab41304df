"""The report's decider: filing, routing, the status flow, duplicates, reopening and rating."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cityhall.events.decider import DomainError
from cityhall.reports.domain import Report, report_decider
from cityhall.reports.events import (
    Accept,
    Command,
    File,
    MarkDuplicate,
    Move,
    Rate,
    Reject,
    Reopen,
    ReportAccepted,
    ReportFiled,
    ReportMarkedDuplicate,
    ReportMoved,
    ReportRated,
    ReportReopened,
    ReportResolved,
    ReportStarted,
    ReportSubscribed,
    Resolve,
    Start,
    Subscribe,
)

ID = uuid.UUID("12345678-1234-5678-1234-567812345678")
AT = datetime(2026, 12, 1, 9, tzinfo=UTC)
CITY_HALL = (35.6604, 139.535)
FILE = File(
    report_id=ID, user_id="U1", category="pothole", latitude=CITY_HALL[0], longitude=CITY_HALL[1], at=AT
)


def decide(command: Command, *history: object) -> list[object]:
    state = report_decider.fold(list(history))  # type: ignore[arg-type]
    return list(report_decider.decide(command, state))


def test_a_report_is_filed_once_with_its_number_district_and_department() -> None:
    [filed] = decide(FILE)
    assert isinstance(filed, ReportFiled)
    assert (filed.number, filed.district, filed.department) == ("R-12345678", "honcho", "roads")
    with pytest.raises(DomainError, match="すでに受け付けています"):
        decide(FILE, filed)


def test_routing_is_category_by_district() -> None:
    tree_in_honcho = FILE.model_copy(update={"category": "tree"})
    [filed] = decide(tree_in_honcho)
    assert isinstance(filed, ReportFiled) and filed.department == "roads"
    tree_in_kita = tree_in_honcho.model_copy(update={"latitude": 35.668})
    [filed] = decide(tree_in_kita)
    assert isinstance(filed, ReportFiled) and (filed.district, filed.department) == ("kita", "parks")


def test_a_point_outside_the_town_an_unknown_category_and_four_photos_are_refused() -> None:
    with pytest.raises(DomainError) as outside:
        decide(FILE.model_copy(update={"latitude": 35.6812, "longitude": 139.7671}))
    assert outside.value.reason == "outside_town"
    with pytest.raises(DomainError) as unknown:
        decide(FILE.model_copy(update={"category": "ufo"}))
    assert unknown.value.reason == "unknown_category"
    with pytest.raises(DomainError) as many:
        decide(FILE.model_copy(update={"photos": tuple(uuid.uuid4() for _ in range(4))}))
    assert many.value.reason == "too_many_photos"


def test_the_status_flow_and_what_a_closed_report_refuses() -> None:
    [filed] = decide(FILE)
    [accepted] = decide(Accept(by="c"), filed)
    assert isinstance(accepted, ReportAccepted)
    with pytest.raises(DomainError) as again:
        decide(Accept(by="c"), filed, accepted)
    assert again.value.reason == "not_new"
    [started] = decide(Start(by="c"), filed, accepted)
    assert isinstance(started, ReportStarted)
    [resolved] = decide(Resolve(by="c", note="補修しました", at=AT), filed, accepted, started)
    assert isinstance(resolved, ReportResolved)
    state = report_decider.fold([filed, accepted, started, resolved])  # type: ignore[list-item]
    assert state.status == "resolved" and not state.is_open
    for command in (Start(by="c"), Reject(reason="r", by="c"), Move(department="parks", by="c")):
        with pytest.raises(DomainError) as closed:
            decide(command, filed, accepted, started, resolved)
        assert closed.value.reason == "not_open"


def test_a_rejection_needs_a_reason_and_a_move_a_real_other_department() -> None:
    [filed] = decide(FILE)
    with pytest.raises(DomainError) as no_reason:
        decide(Reject(reason="  ", by="c"), filed)
    assert no_reason.value.reason == "no_reason"
    with pytest.raises(DomainError) as same:
        decide(Move(department="roads", by="c"), filed)
    assert same.value.reason == "same_department"
    with pytest.raises(DomainError):
        decide(Move(department="finance", by="c"), filed)
    [moved] = decide(Move(department="parks", by="c"), filed)
    assert isinstance(moved, ReportMoved)
    assert report_decider.fold([filed, moved]).department == "parks"  # type: ignore[list-item]


def test_subscribing_twice_changes_nothing_and_a_duplicate_is_closed() -> None:
    [filed] = decide(FILE)
    [subscribed] = decide(Subscribe(user_id="U2"), filed)
    assert isinstance(subscribed, ReportSubscribed)
    assert decide(Subscribe(user_id="U2"), filed, subscribed) == []
    assert decide(Subscribe(user_id="U1"), filed) == []  # the reporter is told already
    with pytest.raises(DomainError):
        decide(MarkDuplicate(of=ID, by="c"), filed)
    other = uuid.uuid4()
    [dup] = decide(MarkDuplicate(of=other, by="c"), filed)
    assert isinstance(dup, ReportMarkedDuplicate)
    state = report_decider.fold([filed, dup])  # type: ignore[list-item]
    assert (state.status, state.duplicate_of) == ("duplicate", other)


def test_reopen_within_fourteen_days_by_a_subscriber_only() -> None:
    [filed] = decide(FILE)
    [resolved] = decide(Resolve(by="c", at=AT), filed)
    with pytest.raises(DomainError) as stranger:
        decide(Reopen(user_id="U9", at=AT), filed, resolved)
    assert stranger.value.reason == "not_subscriber"
    with pytest.raises(DomainError) as late:
        decide(Reopen(user_id="U1", at=AT + timedelta(days=14, seconds=1)), filed, resolved)
    assert late.value.reason == "reopen_expired"
    [reopened] = decide(Reopen(user_id="U1", at=AT + timedelta(days=14)), filed, resolved)
    assert isinstance(reopened, ReportReopened)
    assert report_decider.fold([filed, resolved, reopened]).status == "accepted"  # type: ignore[list-item]
    with pytest.raises(DomainError) as open_one:
        decide(Reopen(user_id="U1", at=AT), filed)
    assert open_one.value.reason == "not_resolved"


def test_each_subscriber_rates_a_resolution_once() -> None:
    [filed] = decide(FILE)
    with pytest.raises(DomainError):
        decide(Rate(user_id="U1", satisfied=True), filed)
    [resolved] = decide(Resolve(by="c", at=AT), filed)
    [rated] = decide(Rate(user_id="U1", satisfied=False), filed, resolved)
    assert isinstance(rated, ReportRated) and rated.satisfied is False
    with pytest.raises(DomainError) as twice:
        decide(Rate(user_id="U1", satisfied=True), filed, resolved, rated)
    assert twice.value.reason == "already_rated"
    assert report_decider.fold([]) == Report()
