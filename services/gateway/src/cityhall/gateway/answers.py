"""The gateway's answer to an intent that no running service consumes: never silence. Pure.

A domain whose service is not running says it is being prepared and whom to call. The guide
(the default domain, for free text, photos, locations and stickers) answers what it can
without a service: recognisable requests point to the menu that handles them (with the
tile's own button when its service runs), the FAQ and the shelter page, and otherwise which
menu does what.
"""

from __future__ import annotations

from collections.abc import Collection

from linebot.v3.messaging import Message

from cityhall.gateway import messages as say
from cityhall.line import postback
from cityhall.line.contracts import DEFAULT_DOMAIN, ResidentIntent

TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("faq", ("よくある質問", "質問一覧", "FAQ")),
    ("shelters", ("避難", "防災", "災害", "地震", "台風", "洪水", "津波")),
    ("garbage", ("ごみ", "ゴミ", "粗大", "資源")),
    ("certificates", ("住民票", "証明書", "戸籍", "印鑑")),
    ("reservations", ("予約",)),
    ("reports", ("通報", "道路", "公園", "街灯", "落書き", "陥没")),
    ("community", ("回覧板", "町内会", "自治会")),
    ("notify", ("配信", "お知らせ", "通知")),
)
"""Words that place a message, first match wins (粗大ごみの予約 is about ごみ)."""

GREETINGS = ("こんにちは", "こんばんは", "おはよう", "はじめまして", "よろしく")


def topic(text: str) -> str | None:
    folded = text.casefold()
    for name, words in TOPICS:
        if any(word.casefold() in folded for word in words):
            return name
    return None


def _about(name: str, served: Collection[str]) -> Message:
    match name:
        case "faq":
            return say.faq()
        case "shelters":
            return say.shelters()
        case "disaster_contact":
            return say.disaster_contact()
        case "garbage":
            return say.garbage()
    if name in served:
        return say.go_to(name)
    return say.preparing(name)


def answer(intent: ResidentIntent, served: Collection[str]) -> list[Message]:
    """What to tell the resident, for an intent to a domain outside `served`; [] when nothing
    is to be said (follow, unfollow and events that are not a resident's message)."""
    if intent.kind in ("follow", "unfollow", "other"):
        return []
    if intent.domain != DEFAULT_DOMAIN:
        return [say.preparing(intent.domain)]
    match intent.kind:
        case "postback":
            tapped = postback.decode(intent.postback_data)
            action = tapped.action if tapped else ""
            return [
                _about(action, served)
                if action in ("faq", "shelters", "disaster_contact")
                else say.overview()
            ]
        case "text":
            text = intent.text or ""
            found = topic(text)
            if found is not None:
                return [_about(found, served)]
            return [say.overview(greeting=any(g in text for g in GREETINGS))]
        case "image":
            return [say.photo(reports_served="reports" in served)]
        case "location":
            return [say.location(reports_served="reports" in served)]
        case "sticker":
            return [say.sticker()]
        case _:
            return [say.unsupported_message()]
