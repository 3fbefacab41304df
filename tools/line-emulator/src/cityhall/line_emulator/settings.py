"""Emulator settings: defaults that behave like LINE, each overridable from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import BeforeValidator, Field
from pydantic_settings import NoDecode

from cityhall.line.ratelimit import LINE_RATE_LIMITS, RateLimit
from cityhall.line_emulator.rules import parse_rate_limits
from cityhall.runtime.env import EnvSettings


@dataclass(frozen=True)
class EmulatorSettings:
    tokens: frozenset[str] | None = None
    """Accepted channel access tokens; None accepts any non-empty bearer token."""
    rate_limits: Mapping[str, RateLimit] = field(default_factory=lambda: dict(LINE_RATE_LIMITS))
    """Per endpoint (push, multicast, reply, broadcast, narrowcast); an empty map disables them."""
    reply_token_ttl: float = 60.0
    retry_key_ttl: float = 24 * 3600.0
    max_messages_per_user: int = 1000
    """Delivered messages kept per recipient for /_inspect; 0 keeps none (counters only)."""
    monthly_quota: int | None = None
    """Messages per month before 429 "You have reached your monthly limit."; None: no limit."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EmulatorSettings:
        read = EmulatorEnv.read(env)
        return cls(
            tokens=read.tokens,
            rate_limits=read.rate_limits,
            reply_token_ttl=read.reply_token_ttl,
            retry_key_ttl=read.retry_key_ttl,
            max_messages_per_user=read.max_messages_per_user,
            monthly_quota=read.monthly_quota,
        )

    def accepts(self, token: str) -> bool:
        if not token:
            return False
        return self.tokens is None or token in self.tokens


def _tokens(value: object) -> object:
    if isinstance(value, str):
        return frozenset(t.strip() for t in value.split(",") if t.strip()) or None
    return value


def _rate_limits(value: object) -> object:
    return parse_rate_limits(value) if isinstance(value, str) else value


class EmulatorEnv(EnvSettings):
    """The emulator's variables: LINE's behaviour unless one is set."""

    tokens: Annotated[frozenset[str] | None, NoDecode, BeforeValidator(_tokens)] = Field(
        None, alias="LINE_EMULATOR_TOKENS"
    )
    """Comma-separated accepted tokens."""
    rate_limits: Annotated[dict[str, RateLimit], NoDecode, BeforeValidator(_rate_limits)] = Field(
        default_factory=lambda: dict(LINE_RATE_LIMITS), alias="LINE_EMULATOR_RATE_LIMITS"
    )
    """`off`, or overrides of LINE's limits: `push=10/s,broadcast=5/h`."""
    reply_token_ttl: float = Field(
        EmulatorSettings.reply_token_ttl, alias="LINE_EMULATOR_REPLY_TOKEN_TTL", gt=0
    )
    retry_key_ttl: float = Field(EmulatorSettings.retry_key_ttl, alias="LINE_EMULATOR_RETRY_KEY_TTL", gt=0)
    max_messages_per_user: int = Field(
        EmulatorSettings.max_messages_per_user, alias="LINE_EMULATOR_MAX_MESSAGES_PER_USER", ge=0
    )
    monthly_quota: int | None = Field(None, alias="LINE_EMULATOR_MONTHLY_QUOTA", ge=0)
