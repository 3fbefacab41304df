"""The friend registry's rules, given/when/then; and the pure parts around it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cityhall.events.decider import DomainError
from cityhall.events.envelope import Envelope
from cityhall.events.testing.decider import given
from cityhall.line.contracts import ResidentIntent
from cityhall.line.ratelimit import RateLimit, TokenBucket
from cityhall.notify import dialog
from cityhall.notify.domain import Friend, friend_decider, notice_decider
from cityhall.notify.events import (
    ApproveNotice,
    CancelNotice,
    CompleteNotice,
    Follow,
    FriendFollowed,
    FriendUnfollowed,
    NoticeApproved,
    NoticeCancelled,
    NoticeCompleted,
    NoticeDrafted,
    Unfollow,
)
from cityhall.notify.line_api import retry_key
from cityhall.notify.preferences import Preferences

from .conftest import HOWTO_SECTIONS

USER = "U" + "a" * 32
T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
T2 = T0 + timedelta(minutes=10)


def test_a_new_friend_follows() -> None:
    given(friend_decider).when(Follow(user_id=USER, at=T0)).then(FriendFollowed(user_id=USER, at=T0))


def test_following_twice_changes_nothing() -> None:
    given(friend_decider, FriendFollowed(user_id=USER, at=T0)).when(Follow(user_id=USER, at=T1)).then()


def test_a_friend_blocks_the_account() -> None:
    given(friend_decider, FriendFollowed(user_id=USER, at=T0)).when(Unfollow(user_id=USER, at=T1)).then(
        FriendUnfollowed(user_id=USER, at=T1)
    )


def test_a_friend_from_before_the_registry_can_block() -> None:
    given(friend_decider).when(Unfollow(user_id=USER, at=T0)).then(FriendUnfollowed(user_id=USER, at=T0))


def test_blocking_twice_changes_nothing() -> None:
    given(friend_decider, FriendUnfollowed(user_id=USER, at=T0)).when(Unfollow(user_id=USER, at=T1)).then()


def test_following_again_after_blocking() -> None:
    given(friend_decider, FriendFollowed(user_id=USER, at=T0), FriendUnfollowed(user_id=USER, at=T1)).when(
        Follow(user_id=USER, at=T2)
    ).then(FriendFollowed(user_id=USER, at=T2))


def test_a_late_older_webhook_changes_nothing() -> None:
    given(friend_decider, FriendFollowed(user_id=USER, at=T2)).when(Unfollow(user_id=USER, at=T1)).then()


@pytest.mark.parametrize(
    ("history", "reachable"),
    [
        ((), True),
        ((FriendFollowed(user_id=USER, at=T0),), True),
        ((FriendFollowed(user_id=USER, at=T0), FriendUnfollowed(user_id=USER, at=T1)), False),
        (
            (
                FriendFollowed(user_id=USER, at=T0),
                FriendUnfollowed(user_id=USER, at=T1),
                FriendFollowed(user_id=USER, at=T2),
            ),
            True,
        ),
    ],
)
def test_who_may_be_pushed_to(
    history: tuple[FriendFollowed | FriendUnfollowed, ...], reachable: bool
) -> None:
    state: Friend = friend_decider.fold(history)
    assert state.reachable is reachable


# --- dialog --------------------------------------------------------------------------------


def intent(kind: str, **fields: object) -> ResidentIntent:
    return ResidentIntent.model_validate(
        {
            "webhook_event_id": "01J0000000000000000000000A",
            "user_id": USER,
            "domain": "notify",
            "kind": kind,
            "timestamp": T0,
            "reply_token": "token",
            **fields,
        }
    )


def texts(response: dialog.Response) -> str:
    return "\n".join(str(m.to_dict().get("text", "")) for m in response.messages)


def test_follow_is_welcomed_with_the_menu_explained_and_quick_replies() -> None:
    response = dialog.respond(intent("follow"))
    assert response.command == Follow(user_id=USER, at=T0)
    text = texts(response)
    assert text.startswith("友だち追加ありがとうございます")
    for item in ("証明書", "予約", "通報", "防災/避難所", "配信設定", "よくある質問"):
        assert item in text
    quick = response.messages[0].to_dict()["quickReply"]["items"]
    labels = [q["action"]["label"] for q in quick]
    assert labels == ["使い方", "よくある質問", "配信設定"]
    assert quick[0]["action"]["data"] == "domain=notify&action=howto"


def test_in_disaster_mode_the_welcome_says_the_menu_is_the_disaster_one() -> None:
    text = texts(dialog.respond(intent("follow"), disaster=True))
    assert text.startswith("友だち追加ありがとうございます") and "災害時メニュー" in text
    assert "災害時メニュー" not in texts(dialog.respond(intent("follow")))


def test_an_unblocking_resident_is_welcomed_back() -> None:
    response = dialog.respond(intent("follow", raw={"follow": {"isUnblocked": True}}))
    assert texts(response).startswith("おかえりなさい")


def test_unfollow_records_the_block_and_says_nothing() -> None:
    response = dialog.respond(intent("unfollow", reply_token=None))
    assert response.command == Unfollow(user_id=USER, at=T0)
    assert response.messages == []


def test_howto_guides_through_each_menu_item_and_hands_the_dialog_back() -> None:
    response = dialog.respond(intent("postback", postback_data="domain=notify&action=howto"))
    text = texts(response)
    for item in HOWTO_SECTIONS:
        assert item in text
    assert response.release_dialog and response.command is None


def test_settings_opens_the_dialog_which_claims_the_residents_text() -> None:
    tapped = intent("postback", postback_data="domain=notify&action=settings")
    assert dialog.in_settings(tapped, None) and not dialog.in_settings(intent("text", text="x"), None)
    turn = dialog.Turn(tapped, Envelope.wrap(tapped, source="test", subject="intent-1"))
    assert dialog.settings(turn, Preferences(), T0.date()) is None
    assert turn.claim and turn.session == dialog.Session("menu")
    assert "現在の配信設定です" in str(turn.replies[0].to_dict())
    assert dialog.in_settings(intent("text", text="x"), turn.session)


def test_anything_else_is_answered() -> None:
    assert texts(dialog.respond(intent("text", text="こんにちは"))).startswith("申し訳ありません")


# --- retry keys and the token bucket -------------------------------------------------------


def test_retry_keys_are_stable_uuids_distinct_per_chunk() -> None:
    assert retry_key("k") == retry_key("k")
    keys = {retry_key("k"), retry_key("k", 0), retry_key("k", 1), retry_key("other")}
    assert len(keys) == 4
    for key in keys:
        assert len(key) == 36 and key == key.lower()


def test_the_bucket_allows_its_burst_then_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(RateLimit(200, 1.0, 20), clock=lambda: now[0])
    waits = [bucket.reserve() for _ in range(40)]
    assert waits[:20] == [0.0] * 20
    # The 21st waits one interval, the 40th twenty: 200/s exactly.
    assert waits[20] == pytest.approx(1 / 200)
    assert waits[39] == pytest.approx(20 / 200)
    now[0] = 10.0  # idle: refilled up to the burst, not beyond
    assert [bucket.reserve() for _ in range(20)] == [0.0] * 20
    assert bucket.reserve() > 0


# --- notices -------------------------------------------------------------------------------

NOTICE = uuid.UUID(int=7)
DRAFTED = NoticeDrafted(
    notice_id=NOTICE, kind="campaign", title="図書館まつり", interest="bunka", condition={"all": []},
    texts={"ja": "開きます。"}, author="author", at=T0,
)  # fmt: skip
APPROVED = NoticeApproved(notice_id=NOTICE, by="approver", at=T1, send_at=T1)


def test_a_notice_is_approved_once_by_someone_else() -> None:
    given(notice_decider, DRAFTED).when(ApproveNotice(by="approver", at=T1)).then(APPROVED)
    given(notice_decider, DRAFTED, APPROVED).when(ApproveNotice(by="other", at=T2)).then()  # sent once
    with pytest.raises(DomainError, match="自分で作成した"):
        given(notice_decider, DRAFTED).when(ApproveNotice(by="author", at=T1)).then()


def test_a_send_time_in_the_past_means_now() -> None:
    given(notice_decider, DRAFTED).when(ApproveNotice(by="approver", at=T1, send_at=T0)).then(APPROVED)


def test_a_cancelled_notice_completes_with_what_it_sent_and_cannot_be_approved() -> None:
    cancelled = NoticeCancelled(notice_id=NOTICE, by="approver", at=T2)
    given(notice_decider, DRAFTED, APPROVED).when(CancelNotice(by="approver", at=T2)).then(cancelled)
    done = NoticeCompleted(notice_id=NOTICE, delivered=500, failed=0, skipped=3, at=T2)
    given(notice_decider, DRAFTED, APPROVED, cancelled).when(
        CompleteNotice(delivered=500, failed=0, skipped=3, at=T2)
    ).then(done)
    with pytest.raises(DomainError, match="取り消されています"):
        given(notice_decider, DRAFTED, cancelled).when(ApproveNotice(by="approver", at=T2)).then()
    state = notice_decider.fold([DRAFTED, APPROVED, cancelled, done])
    assert state.status == "cancelled" and state.finished
    with pytest.raises(DomainError, match="送信を終えています"):
        given(notice_decider, DRAFTED, APPROVED, done).when(CancelNotice(by="approver", at=T2)).then()


def test_commands_on_a_notice_never_drafted_are_refused() -> None:
    with pytest.raises(DomainError, match="見つかりません"):
        given(notice_decider).when(ApproveNotice(by="approver", at=T1)).then()
