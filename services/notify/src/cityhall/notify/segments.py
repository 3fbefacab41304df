"""Segments: who a notice goes to, as AND/OR of residents' attributes. Pure.

A condition is JSON, as the staff's segment builder writes it:

    {"all": [{"district": ["honcho", "kita"]},
             {"any": [{"interest": ["kosodate"]}, {"stage": ["age0", "age1_2"]}]}]}

Groups are `{"all": [...]}` (AND) and `{"any": [...]}` (OR; `{"all": []}` is everyone). A leaf
names one attribute and the values any of which matches: `district` (町丁目), `school` (学区),
`interest`, `stage` (a child's stage today), `language`, or `{"moved_in_within_days": N}`.
`parse` refuses anything else with a reason staff can read; `where` turns a condition into SQL
over the code table (`audience`), with its parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from cityhall.notify import town
from cityhall.notify.preferences import INTERESTS, LANGUAGES, STAGES, stage_months

MAX_DEPTH = 4
MAX_LEAVES = 40

_VALUES: dict[str, tuple[str, dict[str, str]]] = {
    "district": ("地域（町丁目）", {d.key: d.name for d in town.DISTRICTS}),
    "school": ("学区", {s: s for s in town.SCHOOLS}),
    "interest": ("お知らせの種類", {k: label for k, (_c, label) in INTERESTS.items()}),
    "stage": ("お子さまの年齢区分", dict(STAGES)),
    "language": ("言語", {k: label for k, (_c, label) in LANGUAGES.items()}),
}
ATTRIBUTES: dict[str, str] = {
    **{k: v[0] for k, v in _VALUES.items()},
    "moved_in_within_days": "転入からの日数",
}
"""Attribute → its name for staff."""
LOCATION_ATTRIBUTES = frozenset({"district", "school"})
"""What an emergency alert may select on: where residents live, nothing else."""


class SegmentError(ValueError):
    """A condition that cannot be used; `str()` is the reason, for staff."""


@dataclass(frozen=True)
class Leaf:
    attribute: str
    values: tuple[str, ...] = ()
    days: int = 0


@dataclass(frozen=True)
class Group:
    any: bool
    items: tuple[Condition, ...]


Condition = Leaf | Group

EVERYONE: Condition = Group(any=False, items=())


def parse(data: Any, *, location_only: bool = False) -> Condition:
    """The condition in `data`; `SegmentError` says what is wrong with it."""
    leaves: list[Leaf] = []
    condition = _parse(data, 1, leaves)
    if len(leaves) > MAX_LEAVES:
        raise SegmentError(f"条件が多すぎます（{MAX_LEAVES}個まで）。")
    if location_only:
        other = sorted(
            {ATTRIBUTES[leaf.attribute] for leaf in leaves if leaf.attribute not in LOCATION_ATTRIBUTES}
        )
        if other:
            raise SegmentError(
                f"緊急情報は地域（町丁目・学区）だけで送り先を指定してください（{'、'.join(other)}は使えません）。"
            )
        if not leaves:
            raise SegmentError("緊急情報の送り先の地域を指定してください。")
    return condition


def _parse(data: Any, depth: int, leaves: list[Leaf]) -> Condition:
    if depth > MAX_DEPTH:
        raise SegmentError(f"条件の入れ子が深すぎます（{MAX_DEPTH}段まで）。")
    if not isinstance(data, dict) or len(data) != 1:
        raise SegmentError("条件は「すべて満たす」「いずれかを満たす」または属性ひとつで書いてください。")
    [(key, value)] = data.items()
    if key in ("all", "any"):
        if not isinstance(value, list):
            raise SegmentError(f"「{key}」には条件の一覧を指定してください。")
        if key == "any" and not value:
            raise SegmentError("「いずれかを満たす」に条件がありません。")
        return Group(any=key == "any", items=tuple(_parse(item, depth + 1, leaves) for item in value))
    if key == "moved_in_within_days":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3650:
            raise SegmentError("転入からの日数は1から3650までの整数で指定してください。")
        leaf = Leaf(key, days=value)
    elif key in _VALUES:
        name, known = _VALUES[key]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise SegmentError(f"{name}の値をひとつ以上選んでください。")
        unknown = [v for v in value if v not in known]
        if unknown:
            raise SegmentError(f"{name}に「{'、'.join(unknown)}」はありません。")
        leaf = Leaf(key, values=tuple(dict.fromkeys(value)))
    else:
        raise SegmentError(
            f"「{key}」という属性はありません（使える属性：{'、'.join(ATTRIBUTES.values())}）。"
        )
    leaves.append(leaf)
    return leaf


def to_json(condition: Condition) -> dict[str, Any]:
    match condition:
        case Group():
            return {"any" if condition.any else "all": [to_json(c) for c in condition.items]}
        case Leaf(attribute="moved_in_within_days"):
            return {condition.attribute: condition.days}
        case Leaf():
            return {condition.attribute: list(condition.values)}


def describe(condition: Condition) -> str:
    """The condition in words, for the dashboard."""
    match condition:
        case Group(items=()):
            return "全員"
        case Group():
            joined = (" または " if condition.any else " かつ ").join(describe(c) for c in condition.items)
            return f"（{joined}）" if len(condition.items) > 1 else joined
        case Leaf(attribute="moved_in_within_days"):
            return f"転入から{condition.days}日以内"
        case Leaf():
            name, known = _VALUES[condition.attribute]
            return f"{name}が{'・'.join(known[v] for v in condition.values)}"


class Where:
    """SQL for conditions over `audience`, collecting the parameters (`$n` numbered from `start`)."""

    def __init__(self, today: date, start: int = 1) -> None:
        self.today = today
        self.params: list[Any] = []
        self._start = start

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${self._start + len(self.params) - 1}"

    def sql(self, condition: Condition) -> str:
        match condition:
            case Group(items=()):
                return "true" if not condition.any else "false"
            case Group():
                joiner = " OR " if condition.any else " AND "
                return "(" + joiner.join(self.sql(c) for c in condition.items) + ")"
            case Leaf(attribute="district"):
                return f"district = ANY({self.param([town.BY_KEY[v].code for v in condition.values])}::smallint[])"
            case Leaf(attribute="school"):
                return f"district = ANY({self.param(town.school_districts(condition.values))}::smallint[])"
            case Leaf(attribute="interest"):
                return f"interests && {self.param([INTERESTS[v][0] for v in condition.values])}::smallint[]"
            case Leaf(attribute="language"):
                return (
                    f"language = ANY({self.param([LANGUAGES[v][0] for v in condition.values])}::smallint[])"
                )
            case Leaf(attribute="stage"):
                months = sorted({m for v in condition.values for m in stage_months(v, self.today)})
                return f"children && {self.param(months)}::int[]"
            case Leaf(attribute="moved_in_within_days"):
                return f"moved_in >= {self.param(self.today - timedelta(days=condition.days))}::date"
        raise SegmentError(f"unknown condition {condition!r}")


def choices() -> dict[str, dict[str, Any]]:
    """What the segment builder offers: attribute → its name and its values (key, label)."""
    offered: dict[str, dict[str, Any]] = {
        key: {"name": name, "values": list(known.items())} for key, (name, known) in _VALUES.items()
    }
    offered["moved_in_within_days"] = {"name": ATTRIBUTES["moved_in_within_days"], "values": []}
    return offered
