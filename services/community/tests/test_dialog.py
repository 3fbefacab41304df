"""The resident's 回覧板 dialog as a pure function: turns in, sessions, commands and replies out."""

import uuid
from typing import Any

from cityhall.community.dialog import Membership, Session, View, respond
from cityhall.community.domain import ASSOCIATIONS, CIRCULARS, Association, Circular, Leave, Read, RequestJoin
from cityhall.line.contracts import IntentKind
from cityhall.line.dialog import Turn
from cityhall.line.testing import dialog_turn, said, tap

USER = "U" + "1" * 32
A = uuid.UUID(int=1)
C = uuid.UUID(int=2)
HONCHO = Association(A, "本町一丁目町会", "honcho")


def turn(kind: IntentKind, session: Session | None = None, **fields: Any) -> Turn[Session, Any]:
    return dialog_turn("community", kind, session, USER, **fields)


def tapped(data: str, view: View | None = None, session: Session | None = None) -> Turn[Session, Any]:
    t = turn("postback", session, postback_data=data)
    respond(t, view or View())
    return t


def test_the_menu_shows_memberships_and_what_can_be_done() -> None:
    t = tapped("domain=community&action=menu", View(memberships=[Membership(A, "本町一丁目町会", True)]))
    assert "承認待ち：本町一丁目町会" in said(t) and tap(t, "退会する") and tap(t, "役員の方")
    t = tapped("domain=community&action=menu", View(officer=True))
    assert "まだどの町内会にも参加していません" in said(t) and tap(t, "役員ページ")


def test_joining_picks_a_town_an_association_and_sends_the_sealed_name() -> None:
    towns = tapped("domain=community&action=join")
    honcho = tap(towns, "本町")
    listed = tapped(honcho, View(choices=[(A, "本町一丁目町会")]))
    picked = tapped(tap(listed, "本町一丁目町会"), View(association=HONCHO))
    assert picked.claim and picked.session == Session("name", A)
    named = turn("text", picked.session, text="山田花子 3-5-201")
    respond(named, View(association=HONCHO, sealed="sealed-token"))
    assert named.session is None and "参加を申し込みました" in said(named)
    assert named.commands == [(ASSOCIATIONS.stream(A), RequestJoin(user_id=USER, name="sealed-token"))]


def test_a_name_too_long_or_not_text_is_asked_again() -> None:
    session = Session("name", A)
    long = turn("text", session, text="あ" * 41)
    respond(long, View(association=HONCHO, sealed="x"))
    assert "40文字まで" in said(long) and not long.commands
    photo = turn("image", session)
    respond(photo, View(association=HONCHO))
    assert "文章でお送りください" in said(photo) and not photo.commands


def test_a_member_or_a_pending_resident_is_told_so_instead_of_asking_again() -> None:
    pending = Association(A, "本町一丁目町会", "honcho", pending=frozenset({USER}))
    t = tapped(f"domain=community&action=pick&a={A.hex}", View(association=pending))
    assert "すでに参加を申し込んでいます" in said(t) and t.session is None


def test_confirmed_once_and_refused_for_someone_else() -> None:
    circular = Circular(C, A, "夏祭り", recipients=frozenset({USER}))
    data = f"domain=community&action=read&c={C.hex}"
    first = tapped(data, View(circular=circular))
    assert first.commands == [(CIRCULARS.stream(C), Read(user_id=USER))]
    again = tapped(data, View(circular=Circular(C, A, "夏祭り", frozenset({USER}), frozenset({USER}))))
    assert "確認済みです" in said(again) and not again.commands
    other = tapped(data, View(circular=Circular(C, A, "夏祭り", recipients=frozenset({"U2"}))))
    assert "お届けしたものではありません" in said(other) and not other.commands
    unknown = tapped(data, View(circular=Circular()))
    assert "有効期限が切れています" in said(unknown)


def test_leaving_asks_to_confirm_and_a_second_confirm_changes_nothing() -> None:
    member = Association(A, "本町一丁目町会", "honcho", members=frozenset({USER}))
    confirm = tapped(f"domain=community&action=leave_pick&a={A.hex}", View(association=member))
    yes = tap(confirm, "退会する")
    left = tapped(yes, View(association=member))
    assert left.commands == [(ASSOCIATIONS.stream(A), Leave(user_id=USER))]
    again = tapped(yes, View(association=HONCHO))
    assert "参加していません" in said(again) and not again.commands


def test_typed_text_outside_a_step_gets_the_menu() -> None:
    t = turn("text", None, text="こんにちは")
    respond(t, View())
    assert "電子回覧板です" in said(t) and t.session is None


def test_typing_回覧板_while_asked_for_a_name_gives_the_menu_not_a_request() -> None:
    t = turn("text", Session("name", A), text="回覧板")
    respond(t, View(association=HONCHO, sealed="x"))
    assert "電子回覧板です" in said(t) and not t.commands and t.session is None


def test_words_typed_after_join_search_the_associations_by_name() -> None:
    joining = tapped("domain=community&action=join")
    assert joining.claim and joining.session == Session("search")
    typed = turn("text", joining.session, text="一丁目")
    respond(typed, View(choices=[(A, "本町一丁目町会")]))
    assert "「一丁目」を含む名前の町内会です" in said(typed) and tap(typed, "本町一丁目町会")
    assert typed.session == Session("search")
