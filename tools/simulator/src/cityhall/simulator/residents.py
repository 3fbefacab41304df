"""The residents the simulator plays, and what each of them said.

Residents (id, display name, whether they are a friend of the account) are kept in one
small JSON file under the data directory, so a restarted run still knows them. What a
resident sent is kept in memory only, as the emulator keeps what the account sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from cityhall.simulator.webhook import USER_ID_PATTERN, new_user_id

Friendship = Literal["none", "friend", "blocked"]
"""`none`: never added the account; `friend`: added (or unblocked) it; `blocked`: blocked it."""

LOG_SIZE = 500
MAX_DISPLAY_NAME = 20
"""LINE's limit on display names."""


@dataclass
class Resident:
    user_id: str
    display_name: str
    friendship: Friendship = "none"
    created_at: int = 0
    """Milliseconds since the epoch."""

    def as_json(self) -> dict[str, Any]:
        return {
            "userId": self.user_id,
            "displayName": self.display_name,
            "friendship": self.friendship,
            "createdAt": self.created_at,
        }


class ResidentBook:
    """Residents by user id, saved to `path` (written whole, atomically, after each change)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = asyncio.Lock()
        self._residents: dict[str, Resident] = {}
        self._logs: dict[str, deque[dict[str, Any]]] = {}
        if path is not None and path.exists():
            for row in json.loads(path.read_text(encoding="utf-8")):
                resident = Resident(**row)
                if USER_ID_PATTERN.match(resident.user_id):
                    self._residents[resident.user_id] = resident

    def all(self) -> list[Resident]:
        return sorted(self._residents.values(), key=lambda r: r.created_at)

    def get(self, user_id: str) -> Resident | None:
        return self._residents.get(user_id)

    async def create(self, display_name: str) -> Resident:
        async with self._lock:
            resident = Resident(new_user_id(), display_name, "none", int(time.time() * 1000))
            self._residents[resident.user_id] = resident
            self._save()
            return resident

    async def set_friendship(self, user_id: str, friendship: Friendship) -> None:
        async with self._lock:
            self._residents[user_id].friendship = friendship
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rows = [asdict(r) for r in self.all()]
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)

    # --- what residents sent ---------------------------------------------------------------

    def record(self, user_id: str, item: dict[str, Any]) -> None:
        self._logs.setdefault(user_id, deque(maxlen=LOG_SIZE)).append(item)

    def sent(self, user_id: str) -> list[dict[str, Any]]:
        return list(self._logs.get(user_id, ()))
