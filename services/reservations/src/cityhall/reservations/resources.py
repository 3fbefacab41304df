"""A resource's settings as its department edits them, pure: the decider of the resource's stream
(`resource-<code>`: seeded once from the catalogue file, then edited in the dashboard), the
dashboard's form read into a `Resource` with a message per field, and the rule that an edit keeps
every future slot residents hold, with at least the seats they took."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import time
from typing import Any

from annotated_types import Ge, Le, MaxLen
from pydantic import ValidationError

from cityhall.events.decider import Decider, DomainError
from cityhall.events.envelope import Event
from cityhall.reservations.catalogue import MAX_SLOTS_A_DAY, WEEKDAYS, WEEKDAYS_JA, Opening, Resource
from cityhall.reservations.events import (
    EditResource,
    Occupied,
    ResourceEdited,
    ResourceSeeded,
    SeedResource,
)
from cityhall.reservations.messages import when

ResourceCommand = SeedResource | EditResource

LABELS = {
    "name": "名称",
    "place": "場所",
    "bring": "持ち物",
    "phone": "問い合わせ先",
    "capacity": "1枠の定員",
    "slot_minutes": "1枠の長さ（分）",
    "opening": "受付する曜日と時間",
    "lead_hours": "受付の締切（開始の何時間前まで）",
    "horizon_days": "受付期間（何日先まで）",
    "cutoff_hours": "LINEで変更・取消できる期限（開始の何時間前まで）",
    "max_active": "1人が持てる予約の数",
    "reminder_hour": "前日のお知らせの時刻（時）",
    "hold_hours": "空き待ちの案内を保留する時間",
    "questions": "質問（文と範囲）",
}
"""The settings a department edits (the catalogue's names), as the dashboard and its history name them."""
EDITABLE = tuple(LABELS)
NUMBERS = (
    "capacity",
    "slot_minutes",
    "lead_hours",
    "horizon_days",
    "cutoff_hours",
    "max_active",
    "reminder_hour",
    "hold_hours",
)
TEXTS = ("name", "place", "phone")
MAX_BRING = 10
OPENING_LINE = re.compile(r"^([月火水木金土日]+)\s*(\d{1,2}):(\d{2})\s*[-~〜]\s*(\d{1,2}):(\d{2})$")


def stream(code: str) -> str:
    return f"resource-{code}"


# The decider.


@dataclass(frozen=True)
class Settings:
    resource: Resource | None = None


def decide(command: ResourceCommand, state: Settings) -> list[Event]:
    match command:
        case SeedResource():
            if state.resource is not None:
                return []  # already in the store: the file seeds a resource once
            seeded = Resource.model_validate(command.settings)
            return [ResourceSeeded(code=seeded.code, settings=seeded.model_dump(mode="json"))]
        case EditResource():
            old = state.resource
            if old is None:
                raise DomainError("unknown_resource", "この予約枠は見つかりません。")
            try:
                new = Resource.model_validate(command.settings)
            except ValidationError:
                raise DomainError("bad_settings", "設定の値が正しくありません。") from None
            if _fixed(old) != _fixed(new):
                raise DomainError(
                    "not_editable", "コード・分類・担当課・質問の項目名は画面から変更できません。"
                )
            for slot in sorted(command.occupied, key=lambda s: s.start):
                _keeps(new, slot)
            changed = [k for k in EDITABLE if getattr(old, k) != getattr(new, k)]
            if not changed:
                return []
            settings = new.model_dump(mode="json")
            return [ResourceEdited(code=new.code, settings=settings, by=command.by, changed=changed)]


def evolve(state: Settings, event: Event) -> Settings:
    if isinstance(event, ResourceSeeded | ResourceEdited):
        return Settings(Resource.model_validate(event.settings))
    return state


resource_decider: Decider[ResourceCommand, Settings] = Decider(Settings(), decide, evolve)


def _fixed(resource: Resource) -> dict[str, Any]:
    """What the dashboard does not edit: the code, category, department, residency rule and the
    questions' keys and labels (their ranges and prompts change)."""
    fixed = resource.model_dump(exclude=set(EDITABLE))
    fixed["questions"] = [q.model_dump(exclude={"min", "max", "prompt"}) for q in resource.questions]
    return fixed


def _keeps(new: Resource, slot: Occupied) -> None:
    """Refuse an edit that would take away a slot residents hold, or seats they booked."""
    if not new.opens_at(slot.start):
        held = f"予約{slot.taken}件" if slot.taken else ""
        waiting = f"空き待ち{slot.waiting}人" if slot.waiting else ""
        raise DomainError(
            "slot_held",
            f"{when(slot.start)}の枠には{'・'.join(x for x in (held, waiting) if x)}があります。"
            "この枠がなくなる変更はできません（予約を別の枠へ移すか、枠を休止してから変更してください）。",
        )
    if slot.capacity is None and new.capacity < slot.taken:
        raise DomainError(
            "below_booked",
            f"{when(slot.start)}の枠にはすでに{slot.taken}人の予約があります。"
            f"定員を{slot.taken}人より少なくはできません。",
        )


# The dashboard's form.


class SettingsInvalid(Exception):
    """The form cannot be saved: a message per field (the catalogue's names)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def bounds(name: str) -> tuple[int, int]:
    """The range the catalogue allows for a setting (read from `Resource`, the one place it is said)."""
    low, high = 0, 9999
    for rule in Resource.model_fields[name].metadata:
        if isinstance(rule, Ge):
            low = int(rule.ge)  # type: ignore[call-overload]
        elif isinstance(rule, Le):
            high = int(rule.le)  # type: ignore[call-overload]
    return low, high


def _max_length(name: str) -> int:
    found = [r.max_length for r in Resource.model_fields[name].metadata if isinstance(r, MaxLen)]
    return found[0] if found else 200


def opening_text(resource: Resource) -> str:
    """The weekly rules as the form shows them, a line each: 「月火水木金 09:00-12:00」."""
    return "\n".join(
        f"{''.join(WEEKDAYS_JA[WEEKDAYS.index(d)] for d in rule.days)} {rule.start:%H:%M}-{rule.end:%H:%M}"
        for rule in resource.opening
    )


def read_form(current: Resource, form: Mapping[str, str]) -> Resource:
    """The resource with the form's values; raises `SettingsInvalid` naming every bad field."""
    errors: dict[str, str] = {}
    data = current.model_dump()
    for key in TEXTS:
        value, limit = form.get(key, "").strip(), _max_length(key)
        if not 1 <= len(value) <= limit:
            errors[key] = f"{LABELS[key]}は1〜{limit}文字で入力してください。"
        data[key] = value
    bring = [line.strip() for line in form.get("bring", "").splitlines() if line.strip()]
    if len(bring) > MAX_BRING or any(len(b) > 200 for b in bring):
        errors["bring"] = f"持ち物は1行に1つ、{MAX_BRING}行まで（1行200文字まで）で入力してください。"
    data["bring"] = bring
    for key in NUMBERS:
        low, high = bounds(key)
        number = _number(form.get(key, ""))
        if number is None or not low <= number <= high:
            errors[key] = f"{LABELS[key]}は{low}〜{high}の数で入力してください。"
        data[key] = number
    try:
        data["opening"] = _opening(form.get("opening", ""))
    except ValueError as exc:
        errors["opening"] = str(exc)
    questions = []
    for question in current.questions:
        least, most = (_number(form.get(f"q_{question.key}_{end}", "")) for end in ("min", "max"))
        prompt = form.get(f"q_{question.key}_prompt", question.prompt).strip()
        if least is None or most is None or not 0 <= least <= most <= 9999:
            errors[f"q_{question.key}"] = (
                f"「{question.label}」の範囲は0〜9999の数で、下限を上限以下にしてください。"
            )
        elif not 1 <= len(prompt) <= 200:
            errors[f"q_{question.key}"] = f"「{question.label}」の質問文は1〜200文字で入力してください。"
        else:
            questions.append(question.model_copy(update={"min": least, "max": most, "prompt": prompt}))
    data["questions"] = questions
    if "opening" not in errors and "slot_minutes" not in errors:
        problem = _slots_problem(current, data["opening"], data["slot_minutes"])
        if problem:
            errors["opening"] = problem
    if errors:
        raise SettingsInvalid(errors)
    try:
        return Resource.model_validate(data)
    except ValidationError as exc:  # what the checks above missed; said plainly, never half-saved
        raise SettingsInvalid({"form": f"設定の値が正しくありません（{exc.error_count()}件）。"}) from exc


def _number(text: str) -> int | None:
    cleaned = unicodedata.normalize("NFKC", text).strip()
    return int(cleaned) if cleaned.isdecimal() and len(cleaned) <= 6 else None


def _opening(text: str) -> list[Opening]:
    rules = []
    lines = [unicodedata.normalize("NFKC", line).strip() for line in text.splitlines()]
    for number, line in enumerate((x for x in lines if x), start=1):
        found = OPENING_LINE.match(line)
        bad = f"{number}行目「{line}」: 「月火水木金 9:00-12:00」のように曜日と時間を書いてください。"
        if found is None:
            raise ValueError(bad)
        days, h1, m1, h2, m2 = found.groups()
        try:
            start, end = time(int(h1), int(m1)), time(int(h2), int(m2))
        except ValueError:
            raise ValueError(bad) from None
        if end <= start:
            raise ValueError(f"{number}行目「{line}」: 終わりの時刻は始まりより後にしてください。")
        weekdays = [WEEKDAYS[i] for i, ja in enumerate(WEEKDAYS_JA) if ja in days]
        rules.append(Opening.model_validate({"days": weekdays, "start": start, "end": end}))
    if not rules:
        raise ValueError("受付する曜日と時間を1行以上入力してください。")
    return rules


def _slots_problem(current: Resource, opening: Sequence[Opening], slot_minutes: int) -> str | None:
    """Why the rules cannot be cut into a day's slots (overlapping, too many), or None."""
    trial = current.model_copy(update={"opening": list(opening), "slot_minutes": slot_minutes})
    for day, ja in zip(WEEKDAYS, WEEKDAYS_JA, strict=True):
        starts = trial._starts(day)
        if len(starts) > MAX_SLOTS_A_DAY:
            return f"{ja}曜日の枠が{len(starts)}になります。1日{MAX_SLOTS_A_DAY}枠までにしてください。"
        if len(set(starts)) != len(starts):
            return f"{ja}曜日の時間が重なっています。"
    return None
