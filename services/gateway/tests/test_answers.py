"""Never silence: what the gateway answers for a domain that no running service consumes, and
the notice a domain gets when a postback takes a resident out of its dialog."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from linebot.v3.messaging import Message, PostbackAction, TextMessage
from prometheus_client import REGISTRY

from cityhall.gateway import messages
from cityhall.gateway import testing as line
from cityhall.gateway.answers import answer, topic
from cityhall.gateway.app import served_domains
from cityhall.gateway.declared import DISASTER_TILES, DOMAINS, TILES, tile_data
from cityhall.line.contracts import DialogLeft, OutboundMessageRequested, ResidentIntent
from cityhall.runtime.service import ServiceContext, Settings

from .conftest import Gateway

TODAY = ("notify", "certificates")
TILE = {tile.label: tile_data(tile) for tile in TILES}


def intent(kind: Any, domain: str = "guide", **fields: Any) -> ResidentIntent:
    return ResidentIntent(
        webhook_event_id="01J0000000000000000000000A",
        user_id=line.user_id(),
        domain=domain,
        kind=kind,
        timestamp=datetime.now(UTC),
        reply_token="token",
        **fields,
    )


def text_of(answer_messages: list[Message]) -> str:
    assert answer_messages, "the resident got no answer"
    return "\n".join(m.text for m in answer_messages if isinstance(m, TextMessage))


def buttons(answer_messages: list[Message]) -> dict[str, str]:
    """Quick-reply postback buttons: label → data."""
    out = {}
    for m in answer_messages:
        for item in m.quick_reply.items if m.quick_reply else []:
            if isinstance(item.action, PostbackAction):
                out[item.action.label] = item.action.data
    return out


# --- the answers, pure --------------------------------------------------------------------------------


@pytest.mark.parametrize("domain", ["reservations", "reports"])
def test_an_unserved_domain_says_it_is_being_prepared_and_whom_to_call(domain: str) -> None:
    said = answer(intent("postback", domain, postback_data=f"domain={domain}&action=menu"), TODAY)
    contact = messages.CONTACTS[domain]
    assert "準備" in text_of(said)
    assert contact.phone in text_of(said) and contact.department in text_of(said)
    assert contact.hours in text_of(said)


def test_a_declared_service_not_deployed_here_is_named_by_its_tile() -> None:
    said = answer(intent("postback", "voice", postback_data=TILE["市民の声"]), TODAY)
    assert "LINEでの「市民の声」は、現在準備を進めています" in text_of(said)
    assert messages.CONTACTS["main"].phone in text_of(said)


def test_the_shelter_tile_gives_the_shelter_page_and_the_disaster_phone() -> None:
    said = answer(intent("postback", postback_data=TILE["防災/避難所"]), TODAY)
    assert messages.PAGES["shelters"] in text_of(said)
    assert messages.CONTACTS["disaster"].phone in text_of(said)


def test_the_disaster_menus_guide_tiles_give_the_shelter_page_and_the_disaster_line() -> None:
    tiles = {t.label: tile_data(t) for t in DISASTER_TILES}
    shelters = answer(intent("postback", postback_data=tiles["避難所"]), TODAY)
    assert messages.PAGES["shelters"] in text_of(shelters)
    contact = answer(intent("postback", postback_data=tiles["問い合わせ"]), TODAY)
    line = messages.CONTACTS["disaster_line"]
    assert line.phone in text_of(contact) and line.hours in text_of(contact) and "119番" in text_of(contact)


def test_the_faq_tile_and_the_faq_text_list_answers_and_where_to_find_more() -> None:
    for said in (
        answer(intent("postback", postback_data=TILE["よくある質問"]), TODAY),
        answer(intent("text", text="よくある質問"), TODAY),
    ):
        assert "住民票" in text_of(said) and "ごみ" in text_of(said)
        assert messages.PAGES["faq"] in text_of(said)


def test_a_greeting_gets_which_menu_does_what() -> None:
    said = text_of(answer(intent("text", text="こんにちは"), TODAY))
    assert said.startswith("こんにちは")
    for tile in TILES:
        assert f"・{tile.label}：" in said
    assert "「回覧板」と送ると開けます" in said  # a service without a tile


def test_text_it_cannot_place_gets_the_menus_and_the_main_phone() -> None:
    said = answer(intent("text", text="税金について教えてください"), TODAY)
    assert "・証明書：" in text_of(said)
    assert messages.CONTACTS["main"].phone in text_of(said)
    assert set(buttons(said).values()) == {tile_data(tile) for tile in TILES}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("住民票がほしい", "certificates"),
        ("印鑑登録証明書を取りたい", "certificates"),
        ("ごみの日はいつ？", "garbage"),
        ("粗大ゴミの予約", "garbage"),
        ("窓口の予約をしたい", "reservations"),
        ("道路に穴が開いています", "reports"),
        ("避難所はどこですか", "shelters"),
        ("お知らせの配信を止めたい", "notify"),
        ("回覧板", "community"),
        ("町内会に入りたい", "community"),
        ("こんにちは", None),
    ],
)
def test_recognisable_requests(text: str, expected: str | None) -> None:
    assert topic(text) == expected


def test_a_request_for_a_running_service_gets_its_tiles_button() -> None:
    said = answer(intent("text", text="住民票がほしい"), TODAY)
    assert buttons(said) == {"証明書": TILE["証明書"]}
    said = answer(intent("text", text="お知らせの配信を止めたい"), TODAY)
    assert buttons(said) == {"配信設定": TILE["配信設定"]}


def test_a_service_without_a_tile_is_opened_by_its_own_button() -> None:
    said = answer(intent("text", text="回覧板"), (*TODAY, "community"))
    assert buttons(said) == {"回覧板を開く": "domain=community&action=menu"}
    said = answer(intent("text", text="回覧板"), TODAY)
    assert "準備" in text_of(said) and messages.CONTACTS["community"].phone in text_of(said)


def test_a_request_for_a_service_not_running_gets_its_phone_instead() -> None:
    said = answer(intent("text", text="窓口の予約をしたい"), TODAY)
    assert messages.CONTACTS["reservations"].phone in text_of(said)
    said = answer(intent("text", text="住民票がほしい"), ("notify",))
    assert "準備" in text_of(said) and messages.CONTACTS["certificates"].phone in text_of(said)


def test_garbage_gets_the_calendar_page_and_the_phone() -> None:
    said = text_of(answer(intent("text", text="ごみの日はいつ？"), TODAY))
    assert messages.PAGES["garbage"] in said and messages.CONTACTS["garbage"].phone in said


def test_a_photo_or_a_location_says_to_call_the_road_department_while_reports_is_prepared() -> None:
    for kind, fields in (("image", {"message_id": "1"}), ("location", {})):
        said = text_of(answer(intent(kind, **fields), TODAY))
        assert "通報" in said and messages.CONTACTS["reports"].phone in said
        served = answer(intent(kind, **fields), (*TODAY, "reports"))
        assert buttons(served) == {"通報": TILE["通報"]}


def test_a_sticker_and_other_messages_get_a_friendly_reply() -> None:
    assert "スタンプ" in text_of(answer(intent("sticker"), TODAY))
    assert "受け付けていません" in text_of(answer(intent("other_message"), TODAY))


def test_events_that_are_not_a_residents_message_get_no_answer() -> None:
    for kind in ("follow", "unfollow", "other"):
        assert answer(intent(kind, "notify" if kind != "other" else "guide"), ()) == []


def test_every_answer_fits_lines_limits() -> None:
    samples = [answer(intent("postback", d, postback_data=f"domain={d}&action=menu"), TODAY) for d in DOMAINS]
    samples += [
        answer(intent("text", text=t), served) for t in ("住民票", "予約", "x") for served in ((), DOMAINS)
    ]
    samples += [answer(intent(k), TODAY) for k in ("image", "location", "sticker", "other_message")]
    for said in samples:
        assert 1 <= len(said) <= 5
        for m in said:
            assert isinstance(m, TextMessage) and len(m.text) <= 5000
            items = m.quick_reply.items if m.quick_reply else []
            assert len(items) <= 13 and all(len(i.action.label) <= 20 for i in items)


# --- the served domains -----------------------------------------------------------------------------


def context(settings: Settings) -> ServiceContext:
    return ServiceContext("gateway", "distributed", settings, None, None, None)  # type: ignore[arg-type]


def test_run_alone_the_gateway_needs_its_served_domains() -> None:
    with pytest.raises(SystemExit, match="CITYHALL_SERVED_DOMAINS"):
        served_domains(context(Settings.from_env({})))
    with pytest.raises(SystemExit, match=r"unknown domain.*payroll"):
        served_domains(context(Settings.from_env({"CITYHALL_SERVED_DOMAINS": "notify,payroll"})))
    env = {"CITYHALL_SERVED_DOMAINS": " notify, certificates ,notify"}
    assert served_domains(context(Settings.from_env(env))) == ("notify", "certificates")
    assert served_domains(context(Settings.from_env({"CITYHALL_SERVED_DOMAINS": ""}))) == ()


# --- through the webhook ----------------------------------------------------------------------------


async def answers_sent(gateway: Gateway) -> list[OutboundMessageRequested]:
    out = []
    for topic_name, _key, envelope in await gateway.published("line.outbound"):
        assert topic_name == "line.outbound"
        event = envelope.event()
        assert isinstance(event, OutboundMessageRequested)
        out.append(event)
    return out


def unserved_count(domain: str) -> float:
    return REGISTRY.get_sample_value("cityhall_gateway_unserved_intents_total", {"domain": domain}) or 0.0


async def test_a_tile_of_a_domain_nothing_serves_is_answered_with_the_reply_token(
    front_desk: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    user = line.user_id()
    tap = line.postback(user, TILE["予約"])
    before = unserved_count("reservations")
    with caplog.at_level(logging.WARNING, logger="cityhall.gateway.intake"):
        assert (await front_desk.post(line.webhook(tap))).status_code == 200
    [sent] = await answers_sent(front_desk)
    assert sent.to == [user] and sent.reply_token == tap["replyToken"]
    assert sent.requested_by == "gateway"
    assert messages.CONTACTS["reservations"].phone in sent.messages[0]["text"]
    assert [t for t, _k, _e in await front_desk.published("intents.")] == ["intents.reservations"]
    assert unserved_count("reservations") == before + 1
    assert "intents.reservations" in caplog.text


async def test_after_a_tile_nothing_serves_the_residents_text_goes_to_the_guide(front_desk: Gateway) -> None:
    user = line.user_id()
    body = line.webhook(line.postback(user, TILE["予約"]), line.text_message(user, "こんにちは"))
    assert (await front_desk.post(body)).status_code == 200
    assert [t for t, _k, _e in await front_desk.published("intents.")] == [
        "intents.reservations",
        "intents.guide",
    ]
    texts = [s.messages[0]["text"] for s in await answers_sent(front_desk)]
    assert "準備" in texts[0] and texts[1].startswith("こんにちは")


async def test_intents_for_running_services_are_not_answered_by_the_gateway(front_desk: Gateway) -> None:
    user = line.user_id()
    body = line.webhook(
        line.follow(user), line.postback(user, TILE["証明書"]), line.text_message(user, "山田")
    )
    assert (await front_desk.post(body)).status_code == 200
    assert await answers_sent(front_desk) == []


async def test_every_message_outside_a_dialog_is_answered(front_desk: Gateway) -> None:
    user = line.user_id()
    events = [
        line.postback(user, TILE["予約"]),
        line.postback(user, TILE["通報"]),
        line.postback(user, TILE["防災/避難所"]),
        line.postback(user, TILE["よくある質問"]),
        *(
            line.text_message(user, t)
            for t in ("よくある質問", "こんにちは", "住民票がほしい", "ごみの日はいつ？")
        ),
        line.location_message(user, 35.0, 139.0),
        line.image_message(user),
        line.sticker_message(user),
    ]
    assert (await front_desk.post(line.webhook(*events))).status_code == 200
    sent = await answers_sent(front_desk)
    assert [s.reply_token for s in sent] == [e["replyToken"] for e in events]


# --- leaving a dialog ----------------------------------------------------------------------------


async def left_notices(gateway: Gateway) -> list[tuple[str, DialogLeft]]:
    out = []
    for topic_name, key, envelope in await gateway.published("intents."):
        event = envelope.event()
        if isinstance(event, DialogLeft):
            assert key == event.user_id
            out.append((topic_name, event))
    return out


async def test_a_tile_of_another_domain_tells_the_domain_whose_dialog_the_resident_left(
    front_desk: Gateway,
) -> None:
    user = line.user_id()
    tap = line.postback(user, TILE["予約"])
    body = line.webhook(line.postback(user, TILE["証明書"]), line.text_message(user, "山田 太郎"), tap)
    assert (await front_desk.post(body)).status_code == 200
    [(topic_name, notice)] = await left_notices(front_desk)
    assert topic_name == "intents.certificates"
    assert (notice.user_id, notice.domain, notice.to_domain) == (user, "certificates", "reservations")
    assert notice.webhook_event_id == tap["webhookEventId"]


async def test_no_notice_within_a_domain_for_unknown_postbacks_or_after_the_dialog_went_idle(
    gateway: Gateway,
) -> None:
    user = line.user_id()
    for data in (TILE["証明書"], "domain=certificates&action=start&c=juminhyo", "action=only"):
        assert (await gateway.post(line.webhook(line.postback(user, data)))).status_code == 200
    gateway.clock.advance(timedelta(minutes=31))
    assert (await gateway.post(line.webhook(line.postback(user, TILE["予約"])))).status_code == 200
    assert await left_notices(gateway) == []
    # A fresh dialog left for another domain's tile, once.
    assert (await gateway.post(line.webhook(line.postback(user, TILE["通報"])))).status_code == 200
    assert [(t, n.domain, n.to_domain) for t, n in await left_notices(gateway)] == [
        ("intents.reservations", "reservations", "reports")
    ]
