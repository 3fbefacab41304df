"""Dates and times as residents read them in Japanese: Japan time, no zero padding, and the
day always given with a time (a deadline after midnight must not read as today).

    date_ja(date(2026, 12, 4))                    -> "12月4日"
    datetime_ja(<2026-12-04 15:19 UTC>)           -> "12月5日 0時19分"
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")


def jst(moment: datetime) -> datetime:
    """`moment` in Japan time (an aware datetime)."""
    return moment.astimezone(JST)


def date_ja(day: date | datetime, *, year: bool = False) -> str:
    """「12月4日」 (「2026年12月4日」 with `year`); a datetime is taken in Japan time."""
    if isinstance(day, datetime):
        day = jst(day).date()
    text = f"{day.month}月{day.day}日"
    return f"{day.year}年{text}" if year else text


def datetime_ja(moment: datetime, *, year: bool = False) -> str:
    """「12月5日 0時19分」 in Japan time."""
    local = jst(moment)
    return f"{date_ja(local, year=year)} {local.hour}時{local.minute}分"
