"""A resident's 配信設定 (pure): what they chose, the stage of each child on a given day, and the
non-personal codes a segment selects on.

The choices are personal data: notify keeps them sealed with the resident's key (`to_json`,
then `PersonalData.encrypt`). The code table (`audience`) holds only small integers derived
from them (`Codes`), which is what segments count and select, and is deleted with the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from cityhall.notify import town

INTERESTS: dict[str, tuple[int, str]] = {
    "bosai": (1, "防災"),
    "kosodate": (2, "子育て"),
    "kenko": (3, "健康・検診"),
    "event": (4, "イベント"),
    "gomi": (5, "ごみ・リサイクル"),
    "zei": (6, "税・保険"),
    "korei": (7, "高齢者福祉"),
    "bunka": (8, "文化・スポーツ"),
}
"""key → (code, label). Codes are stored; never reuse one."""

LANGUAGES: dict[str, tuple[int, str]] = {
    "ja": (0, "日本語"),
    "easy": (1, "やさしい日本語"),
    "en": (2, "English"),
    "zh": (3, "中文"),
    "ko": (4, "한국어"),
    "vi": (5, "Tiếng Việt"),
}
"""key → (code, label); a notice without the resident's language goes in Japanese."""

STAGES: dict[str, str] = {
    "pregnant": "妊娠中",
    "age0": "0歳",
    "age1_2": "1–2歳",
    "age3_5": "3–5歳",
    "elementary": "小学生",
    "junior_high": "中学生",
}

QUIET_CHOICES: tuple[tuple[int, int], ...] = ((22, 7), (21, 8), (23, 6), (20, 9))
"""通知しない時間帯 a resident can pick (start hour, end hour, Japan time)."""

MAX_CHILDREN = 6
PREGNANCY_MONTHS = 10
"""How far ahead an expected birth month may be."""
OLDEST_CHILD_YEARS = 16


def month_index(year: int, month: int) -> int:
    return year * 12 + month - 1


def month_label(index: int) -> str:
    return f"{index // 12}年{index % 12 + 1}月"


def stage(birth: int, today: date) -> str | None:
    """The stage of a child born (or expected) in month `birth` on `today`; None past 中学生.

    School years start in April: a child born April–December of year Y starts 小学校 in April
    of Y+7, one born January–March in April of Y+6 (birth months only, so April 1st birthdays
    count with April). Preschoolers of six stay in 3–5歳, as the nursery classes count them."""
    now = month_index(today.year, today.month)
    if birth > now:
        return "pregnant"
    born_year, born_month = divmod(birth, 12)
    school_year = born_year if born_month >= 3 else born_year - 1  # month 3 = April
    fiscal_year = today.year if today.month >= 4 else today.year - 1
    grade = fiscal_year - school_year - 6
    if grade >= 10:
        return None
    if grade >= 7:
        return "junior_high"
    if grade >= 1:
        return "elementary"
    age = (now - birth) // 12
    return "age0" if age < 1 else "age1_2" if age < 3 else "age3_5"


def stage_months(name: str, today: date) -> list[int]:
    """Every birth month whose child is at stage `name` on `today` (what a segment selects)."""
    now = month_index(today.year, today.month)
    window = range(now - OLDEST_CHILD_YEARS * 12, now + PREGNANCY_MONTHS + 1)
    return [m for m in window if stage(m, today) == name]


def birth_month_allowed(index: int, today: date) -> bool:
    now = month_index(today.year, today.month)
    return now - OLDEST_CHILD_YEARS * 12 < index <= now + PREGNANCY_MONTHS


@dataclass(frozen=True)
class Codes:
    """A resident's row of the code table: small integers only."""

    district: int | None
    interests: list[int]
    children: list[int]
    moved_in: date | None
    language: int
    quiet_start: int | None
    quiet_end: int | None


@dataclass(frozen=True)
class Preferences:
    district: str | None = None
    """A `town.District.key`."""
    interests: frozenset[str] = field(default_factory=lambda: frozenset(INTERESTS))
    """The interests still received: every one until the resident stops one (配信停止)."""
    children: tuple[int, ...] = ()
    """Birth months (or expected ones), as `month_index`."""
    moved_in: date | None = None
    language: str = "ja"
    quiet: tuple[int, int] | None = None

    def toggled(self, interest: str) -> Preferences:
        return replace(self, interests=self.interests ^ {interest})

    def codes(self) -> Codes:
        district = town.BY_KEY.get(self.district or "")
        return Codes(
            district=district.code if district else None,
            interests=sorted(INTERESTS[i][0] for i in self.interests if i in INTERESTS),
            children=sorted(self.children),
            moved_in=self.moved_in,
            language=LANGUAGES.get(self.language, LANGUAGES["ja"])[0],
            quiet_start=self.quiet[0] if self.quiet else None,
            quiet_end=self.quiet[1] if self.quiet else None,
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "district": self.district,
                "interests": sorted(self.interests),
                "children": list(self.children),
                "moved_in": self.moved_in.isoformat() if self.moved_in else None,
                "language": self.language,
                "quiet": list(self.quiet) if self.quiet else None,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Preferences:
        data: dict[str, Any] = json.loads(text)
        quiet = data.get("quiet")
        moved_in = data.get("moved_in")
        language = str(data.get("language"))
        return cls(
            district=data.get("district"),
            interests=frozenset(i for i in data.get("interests", ()) if i in INTERESTS),
            children=tuple(int(c) for c in data.get("children", ())),
            moved_in=date.fromisoformat(moved_in) if moved_in else None,
            language=language if language in LANGUAGES else "ja",
            quiet=(int(quiet[0]), int(quiet[1])) if quiet else None,
        )
