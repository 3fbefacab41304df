"""The report dialog as a pure function: turns in, sessions, commands and replies out."""

import uuid
from datetime import UTC, datetime
from typing import Any

from cityhall.line.content import Photo, PhotoRefused
from cityhall.line.contracts import IntentKind
from cityhall.line.dialog import Turn
from cityhall.line.testing import dialog_turn, said, tap
from cityhall.reports.dialog import Facts, Located, Session, respond
from cityhall.reports.domain import Report
from cityhall.reports.events import File, Rate, Reopen, Subscribe, receipt_number, report_stream
from cityhall.reports.messages import Nearby

USER = "U" + "1" * 32
POINT = {"latitude": 35.6604, "longitude": 139.535, "address": "ポケット市本町1丁目付近"}


def turn(kind: IntentKind, session: Session | None, user: str = USER, **fields: Any) -> Turn[Session, Any]:
    return dialog_turn("reports", kind, session, user, **fields)


def photo() -> Photo:
    return Photo(uuid.uuid4(), "image/jpeg", 1000)


def to_location(category: str = "道路の穴・陥没") -> tuple[Session, Turn[Session, Any]]:
    start = turn("postback", None, postback_data="domain=reports&action=menu")
    respond(start, Facts())
    assert start.claim and start.session is not None
    chosen = turn("postback", start.session, postback_data=tap(start, category))
    respond(chosen, Facts())
    assert chosen.session is not None and chosen.session.awaiting == "photo"
    assert "110" in said(chosen) and "119" in said(chosen) and "0299-00-1301" in said(chosen)
    sent = turn("image", chosen.session, message_id="1")
    respond(sent, Facts(photo=photo()))
    assert sent.session is not None and "1/3" in said(sent)
    done = turn("postback", sent.session, postback_data=tap(sent, "次へ"))
    respond(done, Facts())
    assert done.session is not None and done.session.awaiting == "location"
    return done.session, done


def test_category_photo_location_comment_summary_send_files_the_report() -> None:
    session, _ = to_location()
    located = turn("location", session, location=POINT)
    respond(located, Facts(located=Located("本町", "pd1:address")))
    assert located.session is not None and located.session.awaiting == "comment"
    assert located.session.address == "pd1:address" and located.session.district == "本町"
    commented = turn("text", located.session, text="深さ10cmほどの穴があります")
    respond(commented, Facts(sealed="pd1:comment", public_url="https://city.example"))
    assert commented.session is not None and commented.session.awaiting == "confirm"
    assert "https://city.example/reports/static-map.png?lat=35.660400&lng=139.535000" in said(commented)
    assert "通報内容の確認" in said(commented) and "本町" in said(commented)
    sent = turn("postback", commented.session, postback_data=tap(commented, "送信"))
    respond(sent, Facts())
    [(stream, command)] = sent.commands
    assert stream == report_stream(session.report_id) and isinstance(command, File)
    assert (command.category, command.comment, command.address) == ("pothole", "pd1:comment", "pd1:address")
    assert (command.latitude, command.longitude, len(command.photos)) == (35.6604, 139.535, 1)
    assert sent.session is None and receipt_number(session.report_id) in said(sent)


def test_three_photos_move_on_to_the_location_and_a_refused_file_is_explained() -> None:
    session = Session(uuid.uuid4(), "photo", category="graffiti")
    for count in (1, 2, 3):
        t = turn("image", session, message_id=str(count))
        respond(t, Facts(photo=photo()))
        assert t.session is not None
        session = t.session
    assert session.awaiting == "location" and len(session.photo_ids) == 3
    assert "位置情報" in said(t)
    waiting = Session(uuid.uuid4(), "photo", category="graffiti")
    for reason, words in (("not_an_image", "JPEGまたはPNG"), ("too_large", "10MB")):
        refused = turn("image", waiting, message_id="9")
        respond(refused, Facts(photo=PhotoRefused(reason)))  # type: ignore[arg-type]
        assert refused.session == waiting and words in said(refused)
    early = turn(
        "postback", waiting, postback_data=f"domain=reports&action=photos_done&r={waiting.report_id.hex}"
    )
    respond(early, Facts())
    assert early.session == waiting and "写真をお送りください" in said(early)


def test_a_point_outside_the_town_is_refused_clearly() -> None:
    session, _ = to_location()
    outside = turn("location", session, location={"latitude": 35.6812, "longitude": 139.7671})
    respond(outside, Facts(located=Located(None)))
    assert outside.session == session and "区域外" in said(outside)


def test_a_nearby_open_report_is_offered_and_choosing_it_subscribes_instead_of_filing() -> None:
    session, _ = to_location()
    other = uuid.uuid4()
    near = Nearby(other, receipt_number(other), "accepted", 12.3, datetime(2026, 12, 1, tzinfo=UTC))
    located = turn("location", session, location=POINT)
    respond(located, Facts(located=Located("本町", "", [near])))
    assert located.session is not None and located.session.awaiting == "duplicate"
    assert "この通報と同じですか？" in said(located) and "約12m" in said(located)
    same = turn("postback", located.session, postback_data=tap(located, f"{near.number}と同じ"))
    respond(same, Facts(report=Report(other, "U9", "pothole", "roads", "accepted", frozenset({"U9"}))))
    assert same.commands == [(report_stream(other), Subscribe(user_id=USER))]
    assert same.session is None and near.number in said(same)
    # 別の件です: the resident goes on to file their own.
    new = turn("postback", located.session, postback_data=tap(located, "別の件です"))
    respond(new, Facts())
    assert new.session is not None and new.session.awaiting == "comment" and new.commands == []


def test_a_forged_same_button_naming_a_report_not_offered_subscribes_nobody() -> None:
    session = Session(uuid.uuid4(), "duplicate", category="pothole", candidates=uuid.uuid4().hex)
    forged = uuid.uuid4()
    t = turn(
        "postback",
        session,
        postback_data=f"domain=reports&action=same&r={session.report_id.hex}&d={forged.hex}",
    )
    respond(t, Facts(report=Report(forged, "U9", "pothole", "roads", "open", frozenset({"U9"}))))
    assert t.commands == [] and t.session == session and "ボタンからお選びください" in said(t)


def test_a_double_tap_a_replay_and_someone_elses_tap_change_nothing_and_are_answered() -> None:
    report_id = uuid.uuid4()
    data = f"domain=reports&action=send&r={report_id.hex}"
    mine = Report(report_id, USER, "pothole", "roads", "open", frozenset({USER}))
    again = turn("postback", None, postback_data=data)
    respond(again, Facts(report=mine))
    assert again.commands == [] and "すでに受け付けています" in said(again)
    forged = turn("postback", None, user="U" + "2" * 32, postback_data=data)
    respond(forged, Facts(report=mine))
    assert forged.commands == [] and "お受けできません" in said(forged)
    unknown = turn("postback", None, postback_data=data)
    respond(unknown, Facts(report=Report()))
    assert unknown.commands == [] and "有効期限" in said(unknown)


def test_every_message_at_every_step_is_answered() -> None:
    for awaiting, words in (
        ("category", "種類"),
        ("photo", "写真"),
        ("location", "位置情報"),
        ("comment", "文章で"),
        ("confirm", "送信"),
    ):
        session = Session(uuid.uuid4(), awaiting, category="pothole")
        for kind, fields in (
            ("sticker", {}),
            ("text", {"text": "こんにちは"}),
            ("image", {"message_id": "1"}),
        ):
            if (awaiting, kind) in (("comment", "text"), ("photo", "image")):
                continue
            t = turn(kind, session, **fields)
            respond(t, Facts())
            assert t.replies and words in said(t), (awaiting, kind)
            assert t.commands == []
    nobody = turn("text", None, text="こんにちは")
    respond(nobody, Facts())
    assert nobody.release and "有効期限" in said(nobody)


def test_rating_and_reopening_after_resolution() -> None:
    report_id = uuid.uuid4()
    at = datetime(2026, 12, 1, tzinfo=UTC)
    resolved = Report(report_id, USER, "pothole", "roads", "resolved", frozenset({USER}), resolved_at=at)
    rate = turn("postback", None, postback_data=f"domain=reports&action=rate&r={report_id.hex}&s=1")
    respond(rate, Facts(report=resolved))
    assert rate.commands == [(report_stream(report_id), Rate(user_id=USER, satisfied=True))]
    reopen = turn(
        "postback", None, postback_data=f"domain=reports&action=reopen&r={report_id.hex}", timestamp=at
    )
    respond(reopen, Facts(report=resolved))
    assert reopen.commands == [(report_stream(report_id), Reopen(user_id=USER, at=at))]
    rated_already = Report(
        report_id, USER, "pothole", "roads", "resolved", frozenset({USER}), at, frozenset({USER})
    )
    twice = turn("postback", None, postback_data=f"domain=reports&action=rate&r={report_id.hex}&s=0")
    respond(twice, Facts(report=rated_already))
    assert twice.commands == [] and "すでにご回答" in said(twice)
    stranger = turn(
        "postback",
        None,
        user="U" + "3" * 32,
        postback_data=f"domain=reports&action=rate&r={report_id.hex}&s=1",
    )
    respond(stranger, Facts(report=resolved))
    assert stranger.commands == [] and "通報者ではない" in said(stranger)


def test_history_lists_the_residents_reports() -> None:
    from cityhall.reports.messages import Mine

    t = turn("postback", None, postback_data="domain=reports&action=history")
    respond(
        t, Facts(mine=[Mine("R-0000ABCD", "streetlight", "in_progress", datetime(2026, 12, 1, tzinfo=UTC))])
    )
    assert "R-0000ABCD" in said(t) and "街灯の故障" in said(t) and "対応中" in said(t)
    empty = turn("postback", None, postback_data="domain=reports&action=history")
    respond(empty, Facts())
    assert "これまでの通報はありません" in said(empty)
