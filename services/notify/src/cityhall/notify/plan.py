"""The channel's LINE 公式アカウント plan and what a notice costs under it (pure).

LINE counts a message per recipient, however many bubbles it holds, and bills the messages of a
month beyond the plan's free ones at the plan's price per additional message. The defaults are
LINE Japan's スタンダードプラン (the only plan that may send more than its free messages):
15,000 円 a month with 30,000 messages, additional messages at most 3 円 each (prices before tax;
LINE lowers the price per message in tiers as the month's count grows, so the cost shown is an
upper bound)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Plan:
    monthly_yen: int = 15_000
    """The plan's monthly price (yen, before tax)."""
    free_messages: int = 30_000
    """Messages a month included in the price."""
    additional_yen: float = 3.0
    """Price of each message beyond the free ones (yen, before tax)."""

    def cost(self, used: int, count: int) -> dict[str, Any]:
        """What sending to `count` residents costs when `used` messages were sent this month:
        the messages of this send beyond the free ones, and their price (rounded up to a yen)."""
        additional = max(0, used + count - max(self.free_messages, used))
        return {
            "monthly_yen": self.monthly_yen,
            "free_messages": self.free_messages,
            "additional_yen": self.additional_yen,
            "additional_messages": additional,
            "yen": math.ceil(additional * self.additional_yen),
        }
