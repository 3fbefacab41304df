"""Settings of the staff console kit, from environment variables (the same names in both run modes).

- `CITYHALL_SESSION_SECRET`: the key that signs staff session cookies and CSRF tokens; every
  service that serves staff pages must have the same one. In the embedded run, when unset, one
  is generated once and kept in `<data_dir>/session-secret`.
- `CITYHALL_SESSION_HOURS`: lifetime of a session cookie (default 8).
- `CITYHALL_SESSION_CHECK_SECONDS`: how long a process may rely on an account's session epoch
  before asking again (default 5): logout, disable and role changes take effect within it.
- `CITYHALL_STAFF_PORTAL_INTERNAL_URL`: where a service run alone reaches the portal for
  session epochs (e.g. `http://staff-portal:8000/staff`); required in the distributed mode.
- `CITYHALL_TRUSTED_PROXIES`: comma-separated addresses or networks of the reverse proxies
  whose `X-Forwarded-For` the login throttle believes (default: none).
- `CITYHALL_PUBLIC_URL`: an `https://` address makes cookies `Secure` even behind a proxy that
  does not send `X-Forwarded-Proto`.
- `CITYHALL_STAFF_PORTAL_URL`: where the portal (login, logout) lives; default `/staff`.
- `CITYHALL_OIDC_ISSUER`, `CITYHALL_OIDC_AUDIENCE`, `CITYHALL_OIDC_JWKS_URL` (all three, or
  none), `CITYHALL_OIDC_ROLES_CLAIM` (default `roles`; a dotted path such as
  `realm_access.roles` reaches into nested claims), `CITYHALL_OIDC_USERNAME_CLAIM` (default
  `preferred_username`, falling back to `sub`): bearer JWTs from that issuer are accepted.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, Json

from cityhall.runtime.env import ConfigError, EnvSettings
from cityhall.web.sessions import SessionEpochs, embedded_loader, portal_loader

if TYPE_CHECKING:
    from cityhall.runtime.service import ServiceContext

MIN_SECRET_LENGTH = 32
PORTAL_SERVICE = "staff-portal"


class WebEnv(EnvSettings):
    """The kit's variables (see the module's docstring)."""

    session_secret: str | None = Field(None, alias="CITYHALL_SESSION_SECRET")
    session_hours: float = Field(8.0, alias="CITYHALL_SESSION_HOURS", gt=0)
    session_check_seconds: float = Field(5.0, alias="CITYHALL_SESSION_CHECK_SECONDS", ge=0)
    portal_internal_url: str | None = Field(None, alias="CITYHALL_STAFF_PORTAL_INTERNAL_URL")
    trusted_proxies: str | None = Field(None, alias="CITYHALL_TRUSTED_PROXIES")
    public_url: str | None = Field(None, alias="CITYHALL_PUBLIC_URL")
    portal_url: str = Field("/staff", alias="CITYHALL_STAFF_PORTAL_URL")
    oidc_issuer: str | None = Field(None, alias="CITYHALL_OIDC_ISSUER")
    oidc_audience: str | None = Field(None, alias="CITYHALL_OIDC_AUDIENCE")
    oidc_jwks_url: str | None = Field(None, alias="CITYHALL_OIDC_JWKS_URL")
    oidc_roles_claim: str = Field("roles", alias="CITYHALL_OIDC_ROLES_CLAIM")
    oidc_username_claim: str = Field("preferred_username", alias="CITYHALL_OIDC_USERNAME_CLAIM")
    demo_password: str | None = Field(None, alias="CITYHALL_DEMO_PASSWORD")
    dashboards: Json[list[dict[str, Any]]] | None = Field(None, alias="CITYHALL_DASHBOARDS")
    """Dashboards beside the installed ones: a JSON list of objects (see dashboards.py)."""


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    audience: str
    jwks_url: str
    roles_claim: str = "roles"
    username_claim: str = "preferred_username"
    leeway_seconds: float = 30.0
    algorithms: tuple[str, ...] = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | WebEnv) -> OidcSettings | None:
        read = env if isinstance(env, WebEnv) else WebEnv.read(env)
        names = ("CITYHALL_OIDC_ISSUER", "CITYHALL_OIDC_AUDIENCE", "CITYHALL_OIDC_JWKS_URL")
        values = [read.oidc_issuer, read.oidc_audience, read.oidc_jwks_url]
        if not any(values):
            return None
        if not all(values):
            missing = ", ".join(n for n, v in zip(names, values, strict=True) if not v)
            raise ConfigError(f"OIDC is half configured: set {missing} as well")
        issuer, audience, jwks_url = (v or "" for v in values)
        return cls(
            issuer=issuer,
            audience=audience,
            jwks_url=jwks_url,
            roles_claim=read.oidc_roles_claim,
            username_claim=read.oidc_username_claim,
        )


@dataclass(frozen=True)
class WebConfig:
    session_secret: str
    public_url: str = "http://127.0.0.1:8000"
    session_lifetime: timedelta = timedelta(hours=8)
    portal_url: str = "/staff"
    """Path of the portal: `<portal_url>/login`, `<portal_url>/logout`, `<portal_url>/`."""
    cookie_path: str = "/staff"
    cookie_name: str = "cityhall_staff"
    """The session cookie's name (`auth.SESSION_COOKIE` for staff)."""
    session_salt: str = "cityhall.staff.session"
    """Separates the sessions of one account store from another's signed with the same secret
    (community's officers sign in with their own: a staff cookie is no officer's and vice versa)."""
    oidc: OidcSettings | None = None
    session_check_seconds: float = 5.0
    session_epochs: SessionEpochs | None = field(default=None, compare=False, repr=False)
    """Where sessions are checked against their account's epoch (`cityhall.web.sessions`);
    None checks nothing (a bare app in a test). `from_context` sets it."""
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    """Peers whose `X-Forwarded-For` names the client (`client_address`)."""

    def __post_init__(self) -> None:
        if len(self.session_secret) < MIN_SECRET_LENGTH:
            raise ConfigError(f"CITYHALL_SESSION_SECRET must be at least {MIN_SECRET_LENGTH} characters")

    @property
    def login_url(self) -> str:
        return f"{self.portal_url}/login"

    @property
    def logout_url(self) -> str:
        return f"{self.portal_url}/logout"

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        data_dir: Path | None = None,
        public_url: str | None = None,
    ) -> WebConfig:
        """Read the settings; `data_dir` (the embedded run) allows a generated session secret."""
        read = WebEnv.read(env)
        secret = read.session_secret
        if not secret:
            if data_dir is None:
                raise ConfigError(
                    "set CITYHALL_SESSION_SECRET (the same value for every service with staff pages)"
                )
            secret = generated_secret(data_dir)
        return cls(
            session_secret=secret,
            public_url=(public_url or read.public_url or cls.public_url).rstrip("/"),
            session_lifetime=timedelta(hours=read.session_hours),
            portal_url=read.portal_url.rstrip("/"),
            oidc=OidcSettings.from_env(read),
            session_check_seconds=read.session_check_seconds,
            trusted_proxies=_networks("CITYHALL_TRUSTED_PROXIES", read.trusted_proxies),
        )

    @classmethod
    def from_context(cls, context: ServiceContext, env: Mapping[str, str] | None = None) -> WebConfig:
        """The settings for a service started by the runtime (embedded: secret kept in data_dir)."""
        settings = context.settings
        config = cls.from_env(
            env,
            data_dir=settings.data_dir if context.mode == "embedded" else None,
            public_url=settings.public_url,
        )
        internal_url = WebEnv.read(env).portal_internal_url
        if internal_url:
            load = portal_loader(internal_url, config.session_secret)
        elif context.mode == "embedded" and context.pool is not None:
            load = embedded_loader(context.pool)
        elif context.name == PORTAL_SERVICE:
            return config  # the portal reads its own table (`create_portal`)
        else:
            raise ConfigError(
                "set CITYHALL_STAFF_PORTAL_INTERNAL_URL (e.g. http://staff-portal:8000/staff): "
                "staff sessions are checked against the portal"
            )
        return replace(config, session_epochs=SessionEpochs(load, config.session_check_seconds))


def _networks(name: str, value: str | None) -> tuple[IPv4Network | IPv6Network, ...]:
    try:
        return tuple(ip_network(v.strip(), strict=False) for v in (value or "").split(",") if v.strip())
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from exc


def generated_secret(data_dir: Path) -> str:
    """A session secret generated once and kept in `<data_dir>/session-secret` (mode 0600)."""
    path = data_dir / "session-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(secrets.token_urlsafe(48))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # atomic: if two processes race, the first file wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip()
