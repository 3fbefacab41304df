"""What residents read: dates and times, counts, payment links, reasons, notices."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from linebot.v3.messaging import Message

from cityhall.certificates import messages as say
from cityhall.certificates.catalogue import load
from cityhall.certificates.domain import Request
from cityhall.line.japanese import date_ja, datetime_ja

REQUEST = Request(
    status="payment_pending",
    request_id=uuid.UUID(int=1),
    number="C-00000001",
    user_id="U" + "0" * 32,
    certificate_name="住民票の写し",
    fee=300,
    postage=110,
    copies=2,
    amount=710,
)


def text_of(messages: list[Message] | Message) -> str:
    items = messages if isinstance(messages, list) else [messages]
    dumped: list[Any] = [m.to_dict() for m in items]
    return repr(dumped)


def test_dates_and_times_read_naturally_in_japan_time() -> None:
    assert date_ja(date(2026, 12, 4)) == "12月4日"
    assert date_ja(date(1985, 4, 12), year=True) == "1985年4月12日"
    # 15:19 UTC is 0:19 the next day in Japan: the date comes with the time.
    assert datetime_ja(datetime(2026, 12, 4, 15, 19, tzinfo=UTC)) == "12月5日 0時19分"
    assert datetime_ja(datetime(2026, 1, 2, 0, 5, tzinfo=UTC)) == "1月2日 9時5分"


def test_the_payment_deadline_says_the_day_across_midnight() -> None:
    deadline = datetime(2026, 12, 4, 15, 19, tzinfo=UTC)
    text = text_of(say.payment_link(REQUEST, "https://city.example/pay", deadline))
    assert "12月5日 0時19分までにお支払いください" in text
    assert "00時" not in text


def test_a_new_payment_link_says_so_instead_of_repeating_the_submission() -> None:
    deadline = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    first = text_of(say.payment_link(REQUEST, "https://city.example/pay", deadline))
    renewed = text_of(say.payment_link(REQUEST, "https://city.example/pay", deadline, "renewed"))
    assert "申請内容を確定しました" in first
    assert "申請内容を確定しました" not in renewed and "新しいお支払いのリンクを作成しました" in renewed


def _item(number: str) -> say.StatusItem:
    return say.StatusItem(
        request_id=uuid.uuid4(),
        number=number,
        certificate_name="住民票の写し",
        copies=1,
        status="paid",
        amount=410,
        updated_at=datetime(2026, 12, 4, 0, 30, tzinfo=UTC),
    )


def test_the_status_list_mentions_order_only_for_several() -> None:
    one = text_of(say.status_list([_item("C-1")]))
    assert "新しい順" not in one and "1件" not in one and "状況です。" in one
    assert "12月4日 9時30分" in one and "12月04日" not in one
    two = text_of(say.status_list([_item("C-2"), _item("C-1")]))
    assert "（新しい順に2件）" in two


def test_rejection_reasons_read_politely_in_the_message() -> None:
    catalogue = load({})
    for reason in catalogue.rejection_reasons:
        if reason.code != "other":
            assert reason.label.endswith(("ました", "でした")), reason.label  # です・ます
    mismatch = catalogue.rejection_reason("name_mismatch")
    assert mismatch is not None
    text = text_of(say.rejected(REQUEST, mismatch.label, ""))
    assert "理由：申請の氏名と本人確認書類の氏名が一致しませんでした" in text


def test_the_photo_question_names_the_front_once() -> None:
    catalogue = load({})
    for document in catalogue.id_documents:
        text = text_of(say.ask_photo(document.label))
        assert text.count("表面") == 1, text


def test_issuing_is_told_to_the_resident() -> None:
    text = text_of(say.issued(REQUEST))
    assert "住民票の写しを発行しました" in text and "C-00000001" in text
