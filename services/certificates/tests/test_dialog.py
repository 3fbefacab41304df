"""The dialog is a pure function: plain values in, a turn out, and a named need when it lacks a fact.

No database, no LINE, no payment provider: each test hands the dialog the facts it asks for.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from cityhall.certificates import dialog as d
from cityhall.certificates.catalogue import load
from cityhall.certificates.domain import Request, certificate_decider
from cityhall.certificates.events import (
    AttachPhoto,
    ChooseCopies,
    ChooseIdDocument,
    ChoosePurpose,
    Command,
    GiveDetail,
    Start,
    Submit,
)
from cityhall.certificates.resident import ResidentLinks
from cityhall.events.envelope import Envelope
from cityhall.line import postback
from cityhall.line.contracts import ResidentIntent
from cityhall.payment_protocol.port import Checkout, ProviderError

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
USER = "U" + "1" * 32


def make_dialog() -> d.Dialog:
    links = ResidentLinks.from_secret("s" * 32, "https://town.example/staff/certificates", lambda: NOW)
    return d.Dialog(catalogue=load({}), links=links)


@pytest.fixture
def dialog() -> d.Dialog:
    return make_dialog()


def intent(kind: str, **fields: Any) -> tuple[ResidentIntent, Envelope]:
    said = ResidentIntent(
        webhook_event_id=uuid.uuid4().hex,
        user_id=USER,
        domain="certificates",
        kind=kind,  # type: ignore[arg-type]
        timestamp=NOW,
        reply_token="r",
        **fields,
    )
    return said, Envelope.wrap(said, source="/services/gateway", subject=f"resident-{USER}")


def texts(turn: d.Turn) -> str:
    return "\n".join(str(m.to_dict()) for m in turn.replies)


def decide_with(
    dialog: d.Dialog,
    session: d.Session | None,
    said: ResidentIntent,
    envelope: Envelope,
    known: dict[Any, Any],
) -> tuple[d.Turn, list[Any]]:
    """Run the dialog, answering each need from `known`; the turn and the needs in the order asked."""
    facts = d.Facts(now=NOW)
    asked: list[Any] = []
    while True:
        try:
            return dialog.decide(session, said, envelope, facts), asked
        except d.Missing as missing:
            asked.append(missing.need)
            facts.known[missing.need] = known[missing.need]


def draft(*commands: Command) -> tuple[uuid.UUID, Request]:
    """A 印鑑登録証明書 request the dialog started, with `commands` decided on it."""
    links = ResidentLinks.from_secret("s" * 32, "https://town.example/staff/certificates", lambda: NOW)
    said, envelope = intent("postback", postback_data=postback.encode("certificates", "start", c="inkan"))
    request_id = uuid.uuid5(envelope.id, "request")
    started, _ = decide_with(
        d.Dialog(catalogue=load({}), links=links),
        None,
        said,
        envelope,
        {d.LoadRequest(request_id): Request()},
    )
    state = started.states[request_id]
    for command in commands:
        state = certificate_decider.fold(certificate_decider.decide(command, state), state)
    return request_id, state


def test_tapping_apply_starts_a_request_claims_the_dialog_and_asks_the_first_question(
    dialog: d.Dialog,
) -> None:
    said, envelope = intent("postback", postback_data=postback.encode("certificates", "start", c="inkan"))
    request_id = uuid.uuid5(envelope.id, "request")
    turn, asked = decide_with(dialog, None, said, envelope, {d.LoadRequest(request_id): Request()})
    assert asked == [d.LoadRequest(request_id)]  # the one fact it needed: the new stream is empty
    [(stream, start)] = turn.commands
    assert stream == f"certificateRequest-{request_id}" and isinstance(start, Start)
    assert start.certificate_code == "inkan" and start.user_id == USER
    assert turn.claim and turn.session == d.Session(request_id, "copies")
    assert "印鑑登録証明書の申請を始めます" in texts(turn) and "必要な部数" in texts(turn)


def test_a_typed_name_is_sealed_before_it_enters_a_command(dialog: d.Dialog) -> None:
    request_id, state = draft(
        ChooseCopies(copies=1, at=NOW), ChoosePurpose(code="employment", label="就職・勤務先への提出", at=NOW)
    )
    session = d.Session(request_id, "name")
    said, envelope = intent("text", text="山田 太郎")
    known = {d.LoadRequest(request_id): state, d.Encrypt("山田 太郎"): "pd1:U:sealed-name"}
    turn, asked = decide_with(dialog, session, said, envelope, known)
    assert d.Encrypt("山田 太郎") in asked
    [(_stream, given)] = turn.commands
    assert isinstance(given, GiveDetail) and given.field == "name" and given.value == "pd1:U:sealed-name"
    assert turn.session == d.Session(request_id, "birth_date") and "生年月日" in texts(turn)


def test_a_bad_answer_asks_again_and_decides_nothing(dialog: d.Dialog) -> None:
    request_id, state = draft()
    said, envelope = intent("text", text="たくさん")
    turn, _ = decide_with(
        dialog, d.Session(request_id, "copies"), said, envelope, {d.LoadRequest(request_id): state}
    )
    assert turn.commands == [] and turn.session == d.Session(request_id, "copies")
    assert "部数" in texts(turn)


def test_malformed_postback_data_is_answered_without_any_fact(dialog: d.Dialog) -> None:
    said, envelope = intent("postback", postback_data="domain=certificates&action=pay&action=cancel")
    turn, asked = decide_with(dialog, None, said, envelope, {})
    assert asked == [] and turn.commands == [] and turn.session is None
    assert "現在、入力途中の証明書の申請はありません" in texts(turn)


def confirmable() -> tuple[uuid.UUID, Request, dict[Any, Any]]:
    details = [
        GiveDetail(field=f, value=f"pd1:U:{f}", at=NOW)
        for f in ("name", "birth_date", "address", "phone", "seal_number")
    ]
    request_id, state = draft(
        ChooseCopies(copies=1, at=NOW),
        ChoosePurpose(code="employment", label="就職・勤務先への提出", at=NOW),
        *details,
        ChooseIdDocument(code="license", label="運転免許証", at=NOW),
        AttachPhoto(photo_id=uuid.uuid4(), content_type="image/jpeg", size=10, at=NOW),
    )
    assert state.missing() == []
    clear = {d.Decrypt(g.value): "山田 太郎" if g.field == "name" else "1" for g in details}
    return request_id, state, {d.LoadRequest(request_id): state, **clear}


def test_confirming_opens_a_checkout_and_submits(dialog: d.Dialog) -> None:
    request_id, state, known = confirmable()
    need = d.OpenCheckout(request_id, state.total, dialog.settings.return_url, 1)
    known[need] = Checkout(url="https://pay.example/c/1", checkout_id="c1")
    said, envelope = intent(
        "postback", postback_data=postback.encode("certificates", "confirm", r=request_id.hex)
    )
    turn, asked = decide_with(dialog, d.Session(request_id, "confirm"), said, envelope, known)
    assert need in asked
    [(_stream, submit)] = turn.commands
    assert isinstance(submit, Submit) and submit.checkout_id == "c1" and submit.amount == 410
    assert turn.session is None and "お支払い額" in texts(turn)


def test_a_provider_failure_is_said_and_nothing_is_submitted(dialog: d.Dialog) -> None:
    request_id, state, known = confirmable()
    known[d.OpenCheckout(request_id, state.total, dialog.settings.return_url, 1)] = ProviderError("down")
    said, envelope = intent("text", text="確定")
    turn, _ = decide_with(dialog, d.Session(request_id, "confirm"), said, envelope, known)
    assert turn.commands == [] and turn.session == d.Session(request_id, "confirm")
    assert "お支払いの準備ができませんでした" in texts(turn)
