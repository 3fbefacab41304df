"""The composer: a notice as text or as a card from a municipal template, with an image staff
uploaded (checked by its bytes, served at notify's own public address), a variant per language
(the resident's language picks it, Japanese when there is none), the preview as LINE gets it,
and what LINE would refuse refused with a reason staff can read."""

from __future__ import annotations

import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image

from cityhall.events.testing import wait_for
from cityhall.notify import composer
from cityhall.notify.composer import ComposeError, Content, Picture
from cityhall.notify.images import KEEP_FOR, ImageRefused, NoticeImages
from cityhall.notify.preferences import Preferences
from cityhall.web import SESSION_COOKIE
from cityhall.web.csrf import CSRF_HEADER

from .conftest import Harness
from .test_notices import APPROVER, AUTHOR, CLERK, as_, client, completed, resident_with

__all__ = ["client"]  # the fixture

PICTURE = Picture("https://city.example/staff/notices/images/x.jpg", "https://city.example/p.jpg", 1200, 800)
EVENT_FIELDS = {"when": "8月3日（土）18時から", "where": "東公園", "url": "https://city.example/matsuri"}


def png(width: int = 1200, height: int = 800) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(out, "PNG")
    return out.getvalue()


def texts_of(node: Any) -> list[str]:
    """Every `text` in a Flex tree, in order."""
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "text" else []
        return own + [t for value in node.values() for t in texts_of(value)]
    if isinstance(node, list):
        return [t for value in node for t in texts_of(value)]
    return []


# --- pure: building and checking ---------------------------------------------------------------


def test_a_text_notice_with_an_image_is_the_text_then_the_image() -> None:
    content = Content("夏まつり", False, {"ja": "土曜日に開きます。"}, picture=PICTURE)
    text, image = [m.to_dict() for m in composer.messages(content, "en")]  # no English: Japanese
    assert text == {"type": "text", "text": "【お知らせ】夏まつり\n\n土曜日に開きます。"}
    assert image == {
        "type": "image", "originalContentUrl": PICTURE.url, "previewImageUrl": PICTURE.preview_url,
    }  # fmt: skip
    composer.check(content)


def test_a_card_speaks_the_residents_language_and_takes_japanese_fields_it_left_blank() -> None:
    content = Content(
        "夏まつり", False, {"ja": "ぜひお越しください。", "en": "Please come."}, "event",
        {"ja": EVENT_FIELDS, "en": {"where": "Higashi Park"}}, PICTURE,
    )  # fmt: skip
    composer.check(content)
    [card] = [m.to_dict() for m in composer.messages(content, "en")]
    assert card["type"] == "flex" and card["altText"] == "【Notice】夏まつり"
    bubble = card["contents"]
    words = texts_of(bubble)
    assert words[:2] == ["Notice", "夏まつり"]
    assert words[2:6] == ["Date and time", "8月3日（土）18時から", "Place", "Higashi Park"]
    assert words[-1] == "Please come."
    assert bubble["hero"]["url"] == PICTURE.url and bubble["hero"]["aspectRatio"] == "1200:800"
    assert bubble["footer"]["contents"][0]["action"] == {
        "type": "uri", "label": "More details", "uri": "https://city.example/matsuri",
    }  # fmt: skip
    [japanese] = [m.to_dict() for m in composer.messages(content, "ko")]  # no Korean: Japanese
    assert texts_of(japanese["contents"])[:4] == ["お知らせ", "夏まつり", "日時", "8月3日（土）18時から"]


def test_a_variant_may_have_its_own_title_and_its_heading_speaks_its_language() -> None:
    content = Content(
        "夏まつり",
        False,
        {"ja": "ぜひ。", "en": "Please come.", "vi": "Xin mời."},
        titles={"en": "Summer festival"},
    )
    composer.check(content)
    assert (
        composer.messages(content, "en")[0].to_dict()["text"] == "【Notice】Summer festival\n\nPlease come."
    )
    assert composer.messages(content, "vi")[0].to_dict()["text"] == "【Thông báo】夏まつり\n\nXin mời."
    card = Content("夏まつり", True, {"ja": "x", "en": "y"}, "card", titles={"en": "Summer festival"})
    [english] = [m.to_dict() for m in composer.messages(card, "en")]
    assert english["altText"] == "【Emergency】Summer festival"
    assert texts_of(english["contents"])[:2] == ["Emergency", "Summer festival"]
    with pytest.raises(ComposeError, match="Englishの件名は60文字以内"):
        composer.check(Content("t", False, {"ja": "x", "en": "y"}, titles={"en": "a" * 61}))
    with pytest.raises(ComposeError, match="中文の件名を入力するときは、中文の本文も"):
        composer.check(Content("t", False, {"ja": "x"}, titles={"zh": "节日"}))


def test_an_alert_card_says_so_in_red() -> None:
    content = Content("避難指示", True, {"ja": "直ちに避難してください。"}, "card")
    [card] = [m.to_dict() for m in composer.messages(content, "ja")]
    assert card["altText"] == "【緊急】避難指示"
    assert card["contents"]["header"]["backgroundColor"] == composer.ALERT_COLOR
    assert texts_of(card["contents"]["header"]) == ["緊急"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (Content("あ" * 61, False, {"ja": "x"}), "件名は1文字以上60文字以内"),
        (Content("t", False, {"ja": "x"}, "flyer"), "テンプレート「flyer」はありません"),
        (Content("t", False, {"ja": "x"}, "event", {"ja": {"when": "8月3日"}}), "イベント案内の「場所」"),
        (Content("t", False, {"ja": "x"}, None, {"ja": {"when": "8月3日"}}), "テンプレートを選んだときだけ"),
        (
            Content("t", False, {"ja": "x"}, "card", {"ja": {"url": "http://city.example/"}}),
            "https:// で始まる",
        ),
        (
            Content("t", False, {"ja": "x"}, "card", {"ja": {"url": "https://city.example/" + "a" * 1000}}),
            "1000文字以内",
        ),
        (Content("t", False, {"ja": "x"}, "gomi", {"ja": {"area": "東" * 201}}), "長すぎます（200文字まで）"),
        (
            Content("t", False, {"ja": "x"}, "event", {"ja": EVENT_FIELDS, "en": {"where": "Park"}}),
            "Englishの項目を入力するときは、Englishの本文も",
        ),
        (Content("t", False, {"ja": "あ" * 5000}), "LINEは5000字まで"),
        (Content("t", False, {"ja": "あ" * 12_000}, "card"), "カードが大きすぎます"),
        (
            Content("t", False, {"ja": "x"}, picture=Picture("https://c/" + "a" * 2000, "https://c/p", 1, 1)),
            "画像のURLが長すぎます",
        ),
    ],
)
def test_what_line_would_refuse_is_refused_with_a_reason(content: Content, reason: str) -> None:
    with pytest.raises(ComposeError, match=re.escape(reason)):
        composer.check(content)


# --- the service: images, drafts, preview, sending ----------------------------------------------


async def upload(client: httpx.AsyncClient, data: bytes, *, who: Any = AUTHOR) -> httpx.Response:
    api = as_(client, who)
    return await client.post(
        "/api/images",
        files={"image": ("poster.png", data, "image/png")},
        headers={
            "cookie": f"{SESSION_COOKIE}={api.cookie}",
            CSRF_HEADER: api.csrf,
            "accept": "application/json",
        },
    )


async def test_an_uploaded_image_is_checked_by_its_bytes_and_served_publicly(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    made = await upload(client, png(4000, 1000))
    assert made.status_code == 200, made.text
    image = made.json()
    assert (image["width"], image["height"]) == (1600, 400)  # resized within LINE's limits
    assert image["url"].endswith(f"/staff/notices/images/{image['image_id']}.jpg")
    served = await client.get(f"/images/{image['image_id']}.jpg")  # no session: LINE fetches it
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(served.content)).size == (1600, 400)
    preview = await client.get(f"/images/{image['image_id']}-preview.jpg")
    assert Image.open(io.BytesIO(preview.content)).size == (320, 80)
    assert (await client.get("/images/00000000-0000-0000-0000-000000000000.jpg")).status_code == 404
    assert (await client.get("/images/../../etc/passwd")).status_code == 404

    fake = await upload(client, b"GIF89a not really an image")
    assert fake.status_code == 422 and "JPEGかPNG" in fake.json()["error"]
    broken = await upload(client, png()[:200])  # PNG magic, broken body
    assert broken.status_code == 422 and "読み取れません" in broken.json()["error"]
    assert (await upload(client, png(), who=CLERK)).status_code == 403
    assert await harness.pool.fetchval("SELECT count(*) FROM notice_images") == 1


async def test_without_an_https_address_in_production_an_image_is_refused_with_the_reason(
    harness: Harness,
) -> None:
    images = NoticeImages(harness.pool, "http://city.example/staff/notices", require_https=True)
    with pytest.raises(ImageRefused, match="CITYHALL_PUBLIC_URL を https://"):
        await images.put(AUTHOR, png())
    assert await harness.pool.fetchval("SELECT count(*) FROM notice_images") == 0
    secure = NoticeImages(harness.pool, "https://city.example/staff/notices", require_https=True)
    stored = await secure.put(AUTHOR, png())
    assert secure.picture(stored).url == f"https://city.example/staff/notices/images/{stored.image_id}.jpg"


async def test_the_preview_is_what_line_gets_and_says_why_it_cannot_be_sent(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    image_id = (await upload(client, png())).json()["image_id"]
    clerk = as_(client, CLERK)
    body = {
        "title": "夏まつり", "texts": {"ja": "ぜひお越しください。", "en": "Please come."}, "template": "event",
        "fields": {"ja": EVENT_FIELDS}, "image_id": image_id, "lang": "en",
    }  # fmt: skip
    author = as_(client, AUTHOR)
    shown = (await author.post("/api/preview", body)).json()
    assert shown["error"] is None
    [card] = shown["messages"]
    assert texts_of(card)[:3] == ["Notice", "夏まつり", "Date and time"]
    assert card["contents"]["hero"]["url"] == f"/images/{image_id}.jpg"  # the page's own address
    wrong = (await author.post("/api/preview", {**body, "fields": {"ja": {"when": "8月3日"}}})).json()
    assert "イベント案内の「場所」" in wrong["error"] and wrong["messages"]  # still drawn, with the reason
    assert (await clerk.post("/api/preview", body)).status_code == 403


async def test_a_card_with_an_image_and_an_english_variant_reaches_each_resident_in_their_language(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    japanese = await resident_with(harness, Preferences(district="higashi"))
    english = await resident_with(harness, Preferences(district="higashi", language="en"))
    image_id = (await upload(client, png())).json()["image_id"]
    author, approver = as_(client, AUTHOR), as_(client, APPROVER)
    body = {
        "kind": "campaign", "title": "夏まつり", "interest": "event", "condition": {"district": ["higashi"]},
        "texts": {"ja": "ぜひお越しください。", "en": "Please come."}, "template": "event",
        "fields": {"ja": EVENT_FIELDS, "en": {"where": "Higashi Park"}}, "image_id": image_id,
    }  # fmt: skip
    refused = await author.post(
        "/api/notices", {**body, "fields": {"ja": {**EVENT_FIELDS, "url": "ftp://x"}}}
    )
    assert refused.status_code == 422 and "https://" in refused.json()["error"]
    missing = await author.post("/api/notices", {**body, "image_id": "00000000-0000-0000-0000-000000000000"})
    assert missing.status_code == 422 and "画像が見つかりません" in missing.json()["error"]

    notice_id = (await author.post("/api/notices", body)).json()["notice_id"]
    shown = (await author.get(f"/api/notices/{notice_id}")).json()
    assert (shown["template"], shown["image"]) == ("event", image_id)
    assert (await approver.post(f"/api/notices/{notice_id}/approve")).status_code == 200
    done = await completed(harness, notice_id)
    assert done.delivered == 2

    async def got(resident: str) -> list[dict[str, Any]]:
        return [m["message"] for m in await harness.messages(resident)]

    await wait_for(lambda: _both(got, japanese, english), timeout=20, message="both residents got the card")
    [to_japanese], [to_english] = await got(japanese), await got(english)
    assert texts_of(to_japanese["contents"])[:3] == ["お知らせ", "夏まつり", "日時"]
    assert texts_of(to_english["contents"])[4:6] == ["Place", "Higashi Park"]
    hero = to_english["contents"]["hero"]["url"]
    assert hero.startswith(harness.service.context.settings.public_url + "/staff/notices/images/")
    served = await client.get(hero.split("/staff/notices", 1)[1])
    assert served.status_code == 200 and served.content[:3] == b"\xff\xd8\xff"


async def test_an_image_is_deleted_once_no_send_has_used_it_for_its_retention(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    await resident_with(harness, Preferences(district="higashi"))
    sent, unused, drafted = [(await upload(client, png())).json()["image_id"] for _ in range(3)]
    author, approver = as_(client, AUTHOR), as_(client, APPROVER)
    body = {"kind": "campaign", "title": "夏まつり", "interest": "event", "condition": {"district": ["higashi"]},
            "texts": {"ja": "ぜひお越しください。"}}  # fmt: skip
    notice_id = (await author.post("/api/notices", {**body, "image_id": sent})).json()["notice_id"]
    waiting = (await author.post("/api/notices", {**body, "image_id": drafted})).json()["notice_id"]
    assert (await approver.post(f"/api/notices/{notice_id}/approve")).status_code == 200
    await completed(harness, notice_id)
    finished = await harness.pool.fetchval(
        "SELECT finished_at FROM notice_sends WHERE notice_id = $1", uuid.UUID(notice_id)
    )
    images = harness.notify.desk.images

    async def kept() -> set[str]:
        return {str(r["image_id"]) for r in await harness.pool.fetch("SELECT image_id FROM notice_images")}

    assert await images.prune(datetime.now(UTC)) == 0  # all uploaded just now
    await harness.pool.execute("UPDATE notice_images SET uploaded_at = uploaded_at - interval '100 days'")
    assert await images.prune(datetime.now(UTC)) == 2  # the one a send finished with lately stays
    assert await kept() == {sent}
    assert (await client.get(f"/images/{drafted}.jpg")).status_code == 404
    assert await images.prune(finished + KEEP_FOR + timedelta(minutes=1)) == 1
    assert await kept() == set()

    # a draft whose image went is refused at approval with the reason, and stays a draft
    refused = await approver.post(f"/api/notices/{waiting}/approve")
    assert refused.status_code == 422 and "保存期間" in refused.json()["error"]
    assert (await author.get(f"/api/notices/{waiting}")).json()["status"] == "draft"
    assert (
        await harness.pool.fetchval(
            "SELECT count(*) FROM notice_sends WHERE notice_id = $1", uuid.UUID(waiting)
        )
        == 0
    )
    assert unused not in await kept()


async def _both(got: Any, *residents: str) -> bool:
    return all([await got(r) for r in residents])


async def test_the_form_takes_the_image_and_every_language_without_the_pages_script(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    author = as_(client, AUTHOR)
    headers = {"cookie": f"{SESSION_COOKIE}={author.cookie}"}
    form = {
        "csrf_token": author.csrf, "kind": "campaign", "title": "ごみ収集日の変更", "interest": "gomi",
        "condition": json.dumps({"district": ["kita"]}), "template": "gomi", "text_ja": "年末年始は収集日が変わります。",
        "text_vi": "Ngày thu gom rác thay đổi.", "field_ja_area": "北町", "field_ja_kind": "燃やすごみ",
        "field_ja_before": "12月31日（水）", "field_ja_after": "1月3日（土）", "field_vi_kind": "Rác cháy được",
    }  # fmt: skip
    made = await client.post(
        "/notices", data=form, files={"image": ("p.png", png(), "image/png")}, headers=headers
    )
    assert made.status_code == 303, made.text
    notice_id = made.headers["location"].split("/notices/")[1].split("?")[0]
    shown = (await author.get(f"/api/notices/{notice_id}")).json()
    assert shown["texts"] == {"ja": "年末年始は収集日が変わります。", "vi": "Ngày thu gom rác thay đổi."}
    assert shown["fields"]["vi"] == {"kind": "Rác cháy được"} and shown["image"]
    page = await client.get(made.headers["location"], headers=headers)
    assert "Tiếng Việtで届く内容" in page.text and "preview.js" in page.text

    bad = await client.post(
        "/notices", data={**form, "field_ja_after": ""}, files={"image": ("p.png", png(), "image/png")},
        headers=headers,
    )  # fmt: skip
    assert bad.status_code == 422 and "「変更後の収集日」" in bad.text
    assert 'name="image_id" id="image-id" value="' in bad.text and "画像を添付しています" in bad.text
    fake = await client.post(
        "/notices", data=form, files={"image": ("p.png", b"not an image", "image/png")}, headers=headers
    )
    assert fake.status_code == 422 and "JPEGかPNG" in fake.text
