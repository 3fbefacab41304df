"""Reading environment variables: one way for every package, with errors that name the variable.

Each owner of variables (the runtime's shared names, each service's own, the staff kit, the
emulator) declares one `EnvSettings` model: a field per variable, its `alias` the variable's
name, its default the value when the variable is unset or blank. `Model.read(env)` reads the
process environment (or `env`, for tests) and validates it; a bad value raises `ConfigError`
naming the variable and what is wrong, before anything starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, ClassVar, Self

from pydantic import ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources import EnvSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

# The mapping `read` was given; None: the process environment.
_ENV: ContextVar[Mapping[str, str] | None] = ContextVar("cityhall_env", default=None)


class ConfigError(ValueError):
    """A setting is missing, malformed or inconsistent; the message names the variable."""


class _Environment(EnvSettingsSource):
    def _load_env_vars(self) -> Mapping[str, str | None]:
        env = _ENV.get()
        if env is None:
            return super()._load_env_vars()
        return parse_env_vars(env, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


class EnvSettings(BaseSettings):
    """Base of the environment models; fields are declared `Field(default, alias="VARIABLE")`."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    keep_blank: ClassVar[frozenset[str]] = frozenset()
    """Variables whose blank value means something (otherwise blank is the same as unset)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _Environment(settings_cls))

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        stripped = {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}
        return {k: v for k, v in stripped.items() if v != "" or k in cls.keep_blank}

    @classmethod
    def read(cls, env: Mapping[str, str] | None = None) -> Self:
        """The variables of `env` (default: the process environment), validated."""
        token = _ENV.set(None if env is None else dict(env))
        try:
            return cls()
        except ValidationError as exc:
            raise ConfigError(describe(exc)) from None
        finally:
            _ENV.reset(token)


def describe(exc: ValidationError) -> str:
    """`VARIABLE: what is wrong (got 'value')`, one line per bad variable."""
    lines = []
    for error in exc.errors(include_url=False):
        name = ".".join(str(part) for part in error["loc"]) or "environment"
        message = "must be set" if error["type"] == "missing" else error["msg"].removeprefix("Value error, ")
        got = f" (got {error['input']!r})" if isinstance(error.get("input"), str) else ""
        lines.append(f"{name}: {message}{got}")
    return "; ".join(lines)
