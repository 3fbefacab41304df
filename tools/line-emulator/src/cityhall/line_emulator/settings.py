"""Emulator settings: defaults that behave like LINE, each overridable from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from cityhall.line_emulator.rules import DEFAULT_RATE_LIMITS, RateLimit, parse_rate_limits


@dataclass(frozen=True)
class EmulatorSettings:
    tokens: frozenset[str] | None = None
    """Accepted channel access tokens; None accepts any non-empty bearer token."""
    rate_limits: Mapping[str, RateLimit] = field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    """Per endpoint (push, multicast, reply, broadcast, narrowcast); an empty map disables them."""
    reply_token_ttl: float = 60.0
    retry_key_ttl: float = 24 * 3600.0
    max_messages_per_user: int = 1000
    """Delivered messages kept per recipient for /_inspect; 0 keeps none (counters only)."""
    monthly_quota: int | None = None
    """Messages per month before 429 "You have reached your monthly limit."; None: no limit."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EmulatorSettings:
        env = os.environ if env is None else env
        tokens = {t.strip() for t in env.get("LINE_EMULATOR_TOKENS", "").split(",") if t.strip()}
        quota = env.get("LINE_EMULATOR_MONTHLY_QUOTA", "").strip()
        return cls(
            tokens=frozenset(tokens) or None,
            rate_limits=parse_rate_limits(env.get("LINE_EMULATOR_RATE_LIMITS", "")),
            reply_token_ttl=float(env.get("LINE_EMULATOR_REPLY_TOKEN_TTL", "60")),
            retry_key_ttl=float(env.get("LINE_EMULATOR_RETRY_KEY_TTL", str(24 * 3600))),
            max_messages_per_user=int(env.get("LINE_EMULATOR_MAX_MESSAGES_PER_USER", "1000")),
            monthly_quota=int(quota) if quota else None,
        )

    def accepts(self, token: str) -> bool:
        if not token:
            return False
        return self.tokens is None or token in self.tokens
