"""The composer: what a notice says in each language, as the LINE messages residents get, checked
against LINE's limits before anyone approves it.

A notice is a text, or a card from a municipal template (`TEMPLATES`: お知らせカード, イベント案内,
ごみ収集日の変更) whose fields staff fill; either may carry an image staff uploaded (`images.py`:
a separate image message after a text, the card's picture on a card). Each language may have its
own variant (text and fields); the resident's language picks it, Japanese when there is none,
and a variant's blank field takes the Japanese one (a date or a URL is usually the same).

Pure: `messages` builds a language's messages, `check` refuses with a reason staff can read what
LINE would refuse (or what could not be read on a phone).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from linebot.v3.messaging import (
    FlexBox,
    FlexBubble,
    FlexButton,
    FlexComponent,
    FlexImage,
    FlexMessage,
    FlexSeparator,
    FlexText,
    ImageMessage,
    Message,
    URIAction,
)

from cityhall.line import build
from cityhall.line.limits import (
    MAX_ALT_TEXT,
    MAX_BUBBLE_BYTES,
    MAX_IMAGE_URL,
    MAX_MESSAGES,
    MAX_TEXT_UTF16,
    MAX_URI,
    utf16_length,
)
from cityhall.notify import messages as say
from cityhall.notify.preferences import LANGUAGES

MAX_TITLE = 60
"""Characters of a title (it heads the notice in the chat list)."""
MAX_FIELD = 200
"""Characters of one template field: a card is read on a phone."""


@dataclass(frozen=True)
class TemplateField:
    key: str
    label: str
    """For staff, in the form."""
    required: bool = False
    url: bool = False


@dataclass(frozen=True)
class Template:
    key: str
    name: str
    color: str
    """The card's header band."""
    fields: tuple[TemplateField, ...]


_MORE = TemplateField("url", "詳しくはこちらのURL", url=True)
TEMPLATES: dict[str, Template] = {
    t.key: t
    for t in (
        Template("card", "お知らせカード", "#3d7a9e", (_MORE,)),
        Template(
            "event",
            "イベント案内",
            "#2e7d4f",
            (
                TemplateField("when", "日時", required=True),
                TemplateField("where", "場所", required=True),
                TemplateField("fee", "参加費"),
                TemplateField("apply", "申込み"),
                _MORE,
            ),
        ),
        Template(
            "gomi",
            "ごみ収集日の変更",
            "#8a6d1f",
            (
                TemplateField("area", "対象地域", required=True),
                TemplateField("kind", "ごみの種類", required=True),
                TemplateField("before", "変更前の収集日", required=True),
                TemplateField("after", "変更後の収集日", required=True),
                _MORE,
            ),
        ),
    )
}
ALERT_COLOR = "#b00020"


class ComposeError(ValueError):
    """What cannot be sent as composed; the message is for staff."""


@dataclass(frozen=True)
class Picture:
    """An uploaded image, at the addresses LINE (or the staff's preview) fetches it from."""

    url: str
    preview_url: str
    width: int
    height: int


@dataclass(frozen=True)
class Content:
    title: str
    alert: bool
    texts: dict[str, str]
    """Language key → text; "ja" always."""
    template: str | None = None
    fields: dict[str, dict[str, str]] = field(default_factory=dict)
    """Language key → the template's fields in that language."""
    picture: Picture | None = None
    titles: dict[str, str] = field(default_factory=dict)
    """Language key → the title in that language; the Japanese `title` where there is none."""

    def title_in(self, lang: str) -> str:
        return self.titles.get(lang) or self.title


def fields_for(content: Content, lang: str) -> dict[str, str]:
    """The template's fields in `lang`: the variant's own, the Japanese ones where it left a blank."""
    japanese = content.fields.get("ja", {})
    own = content.fields.get(lang, {})
    return {k: (own.get(k) or japanese.get(k) or "").strip() for k in (*japanese, *own)}


def messages(content: Content, lang: str) -> list[Message]:
    """What a resident whose language is `lang` gets (the Japanese variant when there is no `lang`)."""
    lang = lang if lang in content.texts else "ja"
    text = content.texts[lang]
    if content.template is None:
        out: list[Message] = say.notice(content.title_in(lang), text, alert=content.alert, lang=lang)
        if content.picture:
            out.append(
                ImageMessage(
                    original_content_url=content.picture.url, preview_image_url=content.picture.preview_url
                )
            )
        return out
    return [_card(content, lang, text)]


def _card(content: Content, lang: str, text: str) -> FlexMessage:
    template = TEMPLATES[content.template or "card"]
    labels = say.CARD_LABELS.get(lang, say.CARD_LABELS["ja"])
    filled = fields_for(content, lang)
    body: list[FlexComponent] = [FlexText(text=content.title_in(lang), weight="bold", size="lg", wrap=True)]
    rows = [f for f in template.fields if not f.url and filled.get(f.key)]
    for i, f in enumerate(rows):
        body.append(build.row(labels[f.key], filled[f.key], margin="lg" if i == 0 else None))
    if rows:
        body.append(FlexSeparator(margin="lg"))
    body.append(FlexText(text=text, size="sm", wrap=True, margin="lg"))
    hero = None
    if content.picture:
        width, height = content.picture.width, min(content.picture.height, 3 * content.picture.width)
        hero = FlexImage(
            url=content.picture.url, size="full", aspect_mode="cover", aspect_ratio=f"{width}:{height}"
        )
    footer = None
    if filled.get("url"):
        more = URIAction(label=labels["more"], uri=filled["url"])
        footer = FlexBox(layout="vertical", contents=[FlexButton(style="link", action=more)])
    band = FlexText(
        text=labels["alert" if content.alert else "notice"], color="#ffffff", size="sm", weight="bold"
    )
    return FlexMessage(
        alt_text=say.notice_heading(content.title_in(lang), alert=content.alert, lang=lang),
        contents=FlexBubble(
            header=FlexBox(
                layout="vertical",
                background_color=ALERT_COLOR if content.alert else template.color,
                padding_all="12px",
                contents=[band],
            ),
            hero=hero,
            body=FlexBox(layout="vertical", spacing="sm", contents=body),
            footer=footer,
        ),
    )


def check(content: Content) -> None:
    """`ComposeError` for what LINE would refuse or a phone could not show well."""
    if not 1 <= len(content.title) <= MAX_TITLE:
        raise ComposeError(f"件名は1文字以上{MAX_TITLE}文字以内で入力してください。")
    if content.template is not None and content.template not in TEMPLATES:
        raise ComposeError(f"テンプレート「{content.template}」はありません。")
    template = TEMPLATES.get(content.template or "")
    if template is None and any(v.strip() for f in content.fields.values() for v in f.values()):
        raise ComposeError("項目はテンプレートを選んだときだけ入力できます。")
    for lang, title in content.titles.items():
        label = LANGUAGES[lang][1] if lang in LANGUAGES else lang
        if lang not in content.texts:
            raise ComposeError(f"{label}の件名を入力するときは、{label}の本文も入力してください。")
        if len(title) > MAX_TITLE:
            raise ComposeError(f"{label}の件名は{MAX_TITLE}文字以内で入力してください。")
    for lang, filled in content.fields.items():
        if lang not in content.texts:
            label = LANGUAGES[lang][1] if lang in LANGUAGES else lang
            raise ComposeError(f"{label}の項目を入力するときは、{label}の本文も入力してください。")
        known = {f.key: f for f in template.fields} if template else {}
        for key, value in filled.items():
            if key not in known:
                raise ComposeError(f"テンプレートにない項目「{key}」があります。")
            url = value.strip()
            if not known[key].url and len(url) > MAX_FIELD:
                raise ComposeError(f"「{known[key].label}」が長すぎます（{MAX_FIELD}文字まで）。")
            if known[key].url and url and not (url.startswith("https://") and len(url) <= MAX_URI):
                raise ComposeError(
                    f"「{known[key].label}」は https:// で始まる{MAX_URI}文字以内のURLにしてください（LINEの決まりです）。"
                )
    if template:
        missing = [
            f.label for f in template.fields if f.required and not fields_for(content, "ja").get(f.key)
        ]
        if missing:
            raise ComposeError(f"{template.name}の「{'」「'.join(missing)}」を日本語で入力してください。")
    if content.picture and max(len(content.picture.url), len(content.picture.preview_url)) > MAX_IMAGE_URL:
        raise ComposeError(f"画像のURLが長すぎます（LINEは{MAX_IMAGE_URL}文字まで）。")
    for lang in content.texts:
        _check_messages(messages(content, lang), LANGUAGES[lang][1] if lang in LANGUAGES else lang)


def _check_messages(out: list[Message], label: str) -> None:
    if len(out) > MAX_MESSAGES:
        raise ComposeError(f"{label}のメッセージが多すぎます（LINEは一度に{MAX_MESSAGES}件まで）。")
    for message in out:
        if isinstance(message, ImageMessage) or message.type == "image":
            continue
        if message.type == "text":
            length = utf16_length(message.to_dict()["text"])
            if length > MAX_TEXT_UTF16:
                raise ComposeError(
                    f"{label}の本文が長すぎます（見出しを含めて{length}字、LINEは{MAX_TEXT_UTF16}字まで）。"
                )
        elif isinstance(message, FlexMessage):
            if len(message.alt_text) > MAX_ALT_TEXT:
                raise ComposeError(f"{label}の通知文（件名）が長すぎます（LINEは{MAX_ALT_TEXT}文字まで）。")
            size = len(json.dumps(message.to_dict()["contents"], ensure_ascii=False).encode())
            if size > MAX_BUBBLE_BYTES:
                raise ComposeError(
                    f"{label}のカードが大きすぎます（{size:,}バイト、LINEは{MAX_BUBBLE_BYTES:,}バイトまで）。"
                    "本文を短くしてください。"
                )
