"""The catalogue the municipality edits (`catalogue.toml` in this package, or the file named by
`CITYHALL_RESERVATIONS_CATALOGUE`) and its calendar rules, pure: which slots a resource opens on a
day, which days and slots a resident may book now, until when a booking may be changed, when its
reminder is due. Every time is Japan time; a slot is named by its resource and its start.

A bad catalogue stops the start with a message naming the file and what is wrong.
"""

from __future__ import annotations

import csv
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cityhall.line.japanese import JST

CATALOGUE_ENV = "CITYHALL_RESERVATIONS_CATALOGUE"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAYS_JA = "月火水木金土日"
MAX_SLOTS_A_DAY = 12
"""A day's times are quick replies: LINE shows 13, one is やめる."""

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Label = Annotated[str, Field(min_length=1, max_length=20)]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class CatalogueError(Exception):
    """The catalogue file cannot be used; the message says where and why."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Category(_Model):
    code: Code
    label: Label


class Opening(_Model):
    """Open `start`-`end` on `days`; cut into slots of the resource's length."""

    days: Annotated[list[Weekday], Field(min_length=1)]
    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"opening {self.start}-{self.end}: the end must be after the start")
        return self


class Question(_Model):
    """A number the resident answers, within `min`..`max`. An `eligible` question's range is who
    may book (a child's age in months): outside it, the booking is refused, not asked again."""

    key: Code
    label: Label
    prompt: Text
    unit: Annotated[str, Field(max_length=4)] = ""
    min: Annotated[int, Field(ge=0)]
    max: Annotated[int, Field(ge=0, le=9999)]
    eligible: bool = False

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.max < self.min:
            raise ValueError(f"question {self.key}: max is below min")
        return self

    def parse(self, text: str) -> int | None:
        """The answer as a number, or None when it is not one (full-width digits are fine)."""
        cleaned = text.strip().removesuffix(self.unit).strip() if self.unit else text.strip()
        if not cleaned.isdecimal() or len(cleaned) > 4:
            return None
        return int(cleaned)

    def within(self, value: int) -> bool:
        return self.min <= value <= self.max


class Resource(_Model):
    code: Code
    category: Code
    name: Annotated[str, Field(min_length=1, max_length=20)]
    department: Code
    """The staff role that works its calendar."""
    place: Text
    bring: list[Text] = Field(default_factory=list)
    phone: Text
    """Whom a resident phones after the cutoff."""
    capacity: Annotated[int, Field(ge=1, le=500)]
    slot_minutes: Annotated[int, Field(ge=5, le=600)]
    lead_hours: Annotated[int, Field(ge=0, le=24 * 30)]
    horizon_days: Annotated[int, Field(ge=1, le=180)]
    cutoff_hours: Annotated[int, Field(ge=0, le=24 * 14)]
    max_active: Annotated[int, Field(ge=1, le=20)]
    reminder_hour: Annotated[int, Field(ge=0, le=23)]
    hold_hours: Annotated[int, Field(ge=1, le=72)]
    opening: Annotated[list[Opening], Field(min_length=1)]
    questions: list[Question] = Field(default_factory=list)
    residents_only: bool = False
    """Only residents of the town may book: asked before the day, refused with whom to phone."""

    @model_validator(mode="after")
    def _fits(self) -> Self:
        _unique([q.key for q in self.questions], f"resource {self.code}: question key")
        for day in WEEKDAYS:
            starts = self._starts(day)
            if len(starts) > MAX_SLOTS_A_DAY:
                raise ValueError(
                    f"resource {self.code}: {len(starts)} slots on {day}, at most {MAX_SLOTS_A_DAY}"
                )
            if len(set(starts)) != len(starts):
                raise ValueError(f"resource {self.code}: opening rules overlap on {day}")
        return self

    @property
    def slot(self) -> timedelta:
        return timedelta(minutes=self.slot_minutes)

    def _starts(self, weekday: str) -> list[time]:
        found: list[time] = []
        for rule in self.opening:
            if weekday not in rule.days:
                continue
            moment = datetime.combine(date(2000, 1, 3), rule.start)
            end = datetime.combine(date(2000, 1, 3), rule.end)
            while moment + self.slot <= end:
                found.append(moment.time())
                moment += self.slot
        return sorted(found)

    def question(self, key: str) -> Question | None:
        return next((q for q in self.questions if q.key == key), None)

    def opens_at(self, start: datetime) -> bool:
        """Whether the weekly rules open a slot at `start` (closed dates aside)."""
        local = start.astimezone(JST)
        return local.time() in self._starts(WEEKDAYS[local.weekday()])


class Catalogue(_Model):
    categories: Annotated[list[Category], Field(min_length=1)]
    resources: Annotated[list[Resource], Field(min_length=1)]
    closed_dates: list[date] = Field(default_factory=list)
    """Days every resource is closed (holidays, the year's end)."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _unique([c.code for c in self.categories], "category code")
        _unique([r.code for r in self.resources], "resource code")
        known = {c.code for c in self.categories}
        for resource in self.resources:
            if resource.category not in known:
                raise ValueError(f"resource {resource.code}: unknown category {resource.category}")
        return self

    def resource(self, code: str) -> Resource | None:
        return next((r for r in self.resources if r.code == code), None)

    def category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)

    def in_category(self, code: str) -> list[Resource]:
        return [r for r in self.resources if r.category == code]

    def departments(self) -> set[str]:
        return {r.department for r in self.resources}

    # The calendar rules.

    def slots_on(self, resource: Resource, day: date) -> list[datetime]:
        """The starts of `resource`'s slots on `day` (none on a closed date)."""
        if day in self.closed_dates:
            return []
        return [datetime.combine(day, t, JST) for t in resource._starts(WEEKDAYS[day.weekday()])]

    def is_slot(self, resource: Resource, start: datetime) -> bool:
        return start in self.slots_on(resource, start.astimezone(JST).date())

    def window(self, resource: Resource, now: datetime) -> tuple[datetime, datetime]:
        """The starts a resident may book at `now`: from now + lead time, up to the horizon's last day."""
        today = now.astimezone(JST).date()
        last = datetime.combine(today + timedelta(days=resource.horizon_days + 1), time(0), JST)
        return now + timedelta(hours=resource.lead_hours), last

    def refusal(self, resource: Resource, start: datetime, now: datetime) -> str | None:
        """Why `start` cannot be booked at `now` ("past", "too_soon", "too_far", "no_slot"), or None."""
        if not self.is_slot(resource, start):
            return "no_slot"
        if start <= now:
            return "past"
        earliest, last = self.window(resource, now)
        if start < earliest:
            return "too_soon"
        if start >= last:
            return "too_far"
        return None

    def bookable_slots(self, resource: Resource, day: date, now: datetime) -> list[datetime]:
        return [s for s in self.slots_on(resource, day) if self.refusal(resource, s, now) is None]

    def bookable_days(self, resource: Resource, now: datetime) -> list[date]:
        """The days of the window with at least one slot a resident may book at `now`."""
        return [d for d in self.days(resource, now) if self.bookable_slots(resource, d, now)]

    def days(self, resource: Resource, now: datetime) -> Iterator[date]:
        """Every day of `resource`'s window, open or not."""
        earliest, last = self.window(resource, now)
        day = earliest.astimezone(JST).date()
        while datetime.combine(day, time(0), JST) < last:
            yield day
            day += timedelta(days=1)

    @staticmethod
    def changeable_until(resource: Resource, start: datetime) -> datetime:
        """The last moment a booking may be changed or cancelled in LINE."""
        return start - timedelta(hours=resource.cutoff_hours)

    @staticmethod
    def reminder_at(resource: Resource, start: datetime) -> datetime:
        """The day before the slot, at the resource's reminder hour."""
        day_before = start.astimezone(JST).date() - timedelta(days=1)
        return datetime.combine(day_before, time(resource.reminder_hour), JST)


@dataclass(frozen=True)
class SlotRef:
    """A slot as buttons and streams name it: the resource's code and the start (`YYYYMMDDHHMM`)."""

    resource: str
    start: datetime

    @property
    def stamp(self) -> str:
        return self.start.astimezone(JST).strftime("%Y%m%d%H%M")

    @property
    def stream(self) -> str:
        return f"slot-{self.resource}-{self.stamp}"

    @classmethod
    def parse(cls, resource: str, stamp: str) -> SlotRef | None:
        """The slot `stamp` names, or None when it is not a `YYYYMMDDHHMM` time."""
        if len(stamp) != 12 or not stamp.isdigit():
            return None
        try:
            start = datetime.strptime(stamp, "%Y%m%d%H%M").replace(tzinfo=JST)
        except ValueError:
            return None
        return cls(resource, start)


CALENDAR_COLUMNS = ("date", "start", "seats", "reason")
CLOSED_MARK = "休止"
MAX_CALENDAR_ROWS = 2000


class CalendarImportError(Exception):
    """A slot calendar (CSV) refused whole; `row` is the file's line (the header is line 1)."""

    def __init__(self, row: int, reason: str) -> None:
        super().__init__(f"{row}行目: {reason}" if row else reason)
        self.row, self.reason = row, reason


@dataclass(frozen=True)
class CalendarRow:
    """One line of a slot calendar: the slot's seats, or (`seats` None) the slot closed."""

    row: int
    ref: SlotRef
    seats: int | None
    reason: str


def read_calendar(catalogue: Catalogue, resource: Resource, text: str) -> list[CalendarRow]:
    """A resource's slot calendar from CSV (`date,start,seats[,reason]`; `seats` is 1-500 or 休止),
    checked whole: the first bad line raises `CalendarImportError` with its number and why."""
    lines = list(csv.reader(text.lstrip("\ufeff").splitlines()))
    if not lines or tuple(c.strip() for c in lines[0]) not in (CALENDAR_COLUMNS, CALENDAR_COLUMNS[:3]):
        raise CalendarImportError(1, f"1行目は見出し {','.join(CALENDAR_COLUMNS)} にしてください。")
    if len(lines) > MAX_CALENDAR_ROWS + 1:
        raise CalendarImportError(0, f"一度に取り込めるのは{MAX_CALENDAR_ROWS}行までです。")
    found: list[CalendarRow] = []
    seen: set[datetime] = set()
    for number, cells in enumerate(lines[1:], start=2):
        if not any(c.strip() for c in cells):
            continue  # a blank line
        if len(cells) not in (3, 4):
            raise CalendarImportError(number, "列の数が合いません（日付,開始,定員[,理由]）。")
        day, start, seats = (c.strip() for c in cells[:3])
        try:
            moment = datetime.combine(date.fromisoformat(day), time.fromisoformat(start), JST)
        except ValueError:
            raise CalendarImportError(number, "日付は YYYY-MM-DD、開始は HH:MM で書いてください。") from None
        if not catalogue.is_slot(resource, moment):
            raise CalendarImportError(number, f"{day} {start} は{resource.name}の予約枠ではありません。")
        if moment in seen:
            raise CalendarImportError(number, f"{day} {start} が重複しています。")
        seen.add(moment)
        if seats == CLOSED_MARK:
            value = None
        elif seats.isdecimal() and 1 <= int(seats) <= 500:
            value = int(seats)
        else:
            raise CalendarImportError(number, f"定員は1〜500の数か「{CLOSED_MARK}」にしてください。")
        reason = cells[3].strip() if len(cells) == 4 else ""
        found.append(CalendarRow(number, SlotRef(resource.code, moment), value, reason))
    if not found:
        raise CalendarImportError(0, "取り込む行がありません。")
    return found


def weekday_ja(day: date) -> str:
    return WEEKDAYS_JA[day.weekday()]


def load(path: Path | None = None) -> Catalogue:
    """The catalogue at `path`, else `$CITYHALL_RESERVATIONS_CATALOGUE`, else the package's own."""
    chosen = path or (Path(os.environ[CATALOGUE_ENV]) if os.environ.get(CATALOGUE_ENV) else None)
    try:
        if chosen is not None:
            text, name = chosen.read_text(encoding="utf-8"), str(chosen)
        else:
            file = resources.files("cityhall.reservations") / "catalogue.toml"
            text, name = file.read_text(encoding="utf-8"), "cityhall/reservations/catalogue.toml"
    except OSError as exc:
        raise CatalogueError(f"{chosen}: cannot be read ({exc.strerror})") from exc
    try:
        return Catalogue.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{name}: not TOML: {exc}") from exc
    except ValidationError as exc:
        raise CatalogueError(f"{name}: {problems(exc)}") from exc


def problems(exc: ValidationError) -> str:
    """A validation error as one line: where in the file, and what is wrong."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())


def _unique(values: list[str], what: str) -> None:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{what} {', '.join(repeated)} is repeated")
