"""The opinion dialog as a pure function: turns in, sessions, commands and replies out."""

import uuid
from typing import Any

from cityhall.line.contracts import IntentKind
from cityhall.line.dialog import Turn
from cityhall.line.testing import dialog_turn, said, tap
from cityhall.voice.dialog import Session, respond
from cityhall.voice.domain import Opinion, Submit, opinion_stream

USER = "U" + "1" * 32


def turn(kind: IntentKind, session: Session | None, user: str = USER, **fields: Any) -> Turn[Session, Any]:
    return dialog_turn("voice", kind, session, user, **fields)


def test_the_tile_opens_a_draft_and_claims_the_residents_text() -> None:
    t = turn("postback", None, postback_data="domain=voice&action=menu")
    respond(t)
    assert t.claim and t.session is not None and t.session.awaiting == "text"
    assert "文章でお送りください" in said(t)


def test_text_then_category_then_send_submits_the_sealed_text() -> None:
    start = turn("postback", None, postback_data="domain=voice&action=menu")
    respond(start)
    assert start.session is not None
    written = turn("text", start.session, text="公園にベンチを")
    respond(written, sealed="pd1:sealed")
    assert written.session is not None and written.session.draft == "pd1:sealed"
    chosen = turn("postback", written.session, postback_data=tap(written, "子育て・教育"))
    respond(chosen)
    assert chosen.session is not None and chosen.session.awaiting == "confirm"
    assert "子育て・教育" in said(chosen)
    sent = turn("postback", chosen.session, postback_data=tap(chosen, "送信"))
    respond(sent)
    opinion_id = start.session.opinion_id
    assert sent.commands == [
        (
            opinion_stream(opinion_id),
            Submit(opinion_id=opinion_id, user_id=USER, category="children", text="pd1:sealed"),
        )
    ]
    assert sent.session is None
    assert Opinion(opinion_id).number in said(sent)


def test_a_double_tap_a_replay_and_a_forged_tap_change_nothing_and_are_answered() -> None:
    opinion_id = uuid.uuid4()
    data = f"domain=voice&action=send&o={opinion_id.hex}"
    mine = Opinion(opinion_id, USER)
    again = turn("postback", None, postback_data=data)
    respond(again, opinion=mine)
    assert again.commands == [] and "すでに受け付けています" in said(again)
    forged = turn("postback", None, user="U" + "2" * 32, postback_data=data)
    respond(forged, opinion=mine)
    assert forged.commands == [] and "お受けできません" in said(forged)
    unknown = turn("postback", Session(uuid.uuid4(), "confirm"), postback_data=data)
    respond(unknown, opinion=Opinion())
    assert unknown.commands == [] and "有効期限" in said(unknown)


def test_long_text_a_photo_and_typing_at_a_button_step_get_a_clear_answer() -> None:
    session = Session(uuid.uuid4(), "text")
    long = turn("text", session, text="あ" * 1001)
    respond(long, sealed="pd1:x")
    assert long.session == session and "1000文字まで" in said(long)
    photo = turn("image", session, message_id="1")
    respond(photo)
    assert "文章でお送りください" in said(photo)
    waiting = Session(uuid.uuid4(), "confirm")
    typed = turn("text", waiting, text="送信")
    respond(typed, sealed=None)
    assert typed.session == waiting and "ボタンからお選びください" in said(typed)


def test_cancel_ends_the_draft() -> None:
    session = Session(uuid.uuid4(), "confirm", draft="pd1:x")
    t = turn("postback", session, postback_data=f"domain=voice&action=cancel&o={session.opinion_id.hex}")
    respond(t)
    assert t.session is None and t.commands == [] and "取りやめました" in said(t)
