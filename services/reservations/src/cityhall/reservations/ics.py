"""A booking as an iCalendar file (RFC 5545, made with `icalendar`) and the signed link that
serves it: the link names the booking and carries an HMAC of it, so only the resident who was
given it (in LINE) opens it, and no number can be guessed into someone else's booking."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from icalendar import Alarm, Calendar
from icalendar import Event as CalendarEvent

from cityhall.reservations.catalogue import Resource

PRODID = "-//Pocket City Hall//reservations//JA"


@dataclass(frozen=True)
class Links:
    key: bytes
    base_url: str
    """Where the service is served, e.g. `https://city.example/staff/reservations`."""

    @classmethod
    def from_secret(cls, secret: str, base_url: str) -> Links:
        key = hmac.new(secret.encode(), b"cityhall.reservations.ics-links", hashlib.sha256).digest()
        return cls(key, base_url.rstrip("/"))

    def _signature(self, booking_id: uuid.UUID) -> str:
        return hmac.new(self.key, booking_id.hex.encode(), hashlib.sha256).hexdigest()[:32]

    def ics_url(self, booking_id: uuid.UUID) -> str:
        return f"{self.base_url}/ics/{booking_id.hex}.ics?s={self._signature(booking_id)}"

    def signed(self, booking_id: uuid.UUID, signature: str) -> bool:
        return hmac.compare_digest(self._signature(booking_id), signature)


def booking_calendar(
    booking_id: uuid.UUID, number: str, resource: Resource, start: datetime, stamp: datetime, host: str
) -> bytes:
    """One VEVENT with the place and what to bring, and an alarm an hour before."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = CalendarEvent()
    event.add("uid", f"{booking_id}@{host}")
    # In UTC: every calendar reads it without a VTIMEZONE for Japan's fixed offset.
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", start.astimezone(UTC))
    event.add("dtend", (start + resource.slot).astimezone(UTC))
    event.add("summary", f"{resource.name}（予約番号 {number}）")
    event.add("location", resource.place)
    bring = "、".join(resource.bring) or "特になし"
    event.add("description", f"予約番号：{number}\n持ち物：{bring}\nお問い合わせ：{resource.phone}")
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", f"{resource.name}のご予約")
    alarm.add("trigger", timedelta(hours=-1))
    event.add_component(alarm)
    calendar.add_component(event)
    return calendar.to_ical()
