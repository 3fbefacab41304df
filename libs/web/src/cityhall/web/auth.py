"""Staff identity: who is asking, and may they open this page.

A person is a `StaffUser` with a set of roles, one per department they work for
(`certificates`, `roads`, `reservations`, `notify`; `<department>-admin` for the
department's administrators). Two ways in, checked in this order on every request:

1. `Authorization: Bearer <JWT>` from the configured OIDC issuer (distributed mode; the
   signature is checked against the issuer's JWKS, then issuer, audience and expiry).
2. The session cookie set by the portal's login page: a signed, self-contained token
   (username, display name, roles, session id, session epoch, issued-at, expiry), checked
   with the shared secret, and its epoch against the account's current one (a short cache:
   `cityhall.web.sessions`), so logout, disabling and role changes end it everywhere.

The dependencies `require_role(...)`, `require_user` and `current_user` read the app's
`StaffAuth` (put there by `cityhall.web.install`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import HTTPException, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from cityhall.runtime import registry
from cityhall.web.config import OidcSettings, WebConfig
from cityhall.web.negotiation import MESSAGES, wants_json

log = logging.getLogger("cityhall.web.auth")

SESSION_COOKIE = "cityhall_staff"
"""Name of the staff session cookie (Path=/staff, HttpOnly, SameSite=Lax, Secure over https)."""

FORBIDDEN_MESSAGE = MESSAGES[403]
LOGIN_REQUIRED_MESSAGE = MESSAGES[401]


def departments() -> dict[str, str]:
    """Japanese names of the departments, by role, as the installed services declare them
    (`ServiceSpec.departments`). `<role>-admin` is that department's administrator."""
    return registry.departments()


def department_label(role: str) -> str:
    names = departments()
    if role.endswith("-admin"):
        return f"{names.get(role.removesuffix('-admin'), role.removesuffix('-admin'))} 管理者"
    return names.get(role, role)


@dataclass(frozen=True)
class StaffUser:
    username: str
    display_name: str
    roles: frozenset[str]

    def has_role(self, *roles: str) -> bool:
        """Whether the person holds any of `roles`."""
        return not self.roles.isdisjoint(roles)

    @property
    def departments(self) -> list[str]:
        """The departments (roles without the `-admin` suffix), sorted."""
        return sorted({r.removesuffix("-admin") for r in self.roles})

    @property
    def department(self) -> str | None:
        """The first department, for a one-line header and as the audit log's default."""
        departments = self.departments
        return departments[0] if departments else None

    @property
    def department_label(self) -> str:
        return "・".join(department_label(d) for d in self.departments) or "所属なし"

    @property
    def header_department(self) -> str:
        """The departments to show beside the name in the page header: those the display name
        does not already say (「道路管理課 品川」 needs no 「（道路管理課）」 after it)."""
        if not self.departments:
            return "所属なし"
        labels = (department_label(d) for d in self.departments)
        return "・".join(label for label in labels if label not in self.display_name)


# -- passwords ------------------------------------------------------------------------------

# argon2id with the library's parameters (RFC 9106's low-memory choice: t=3, m=64 MiB, p=4).
# Hashing takes a few hundred milliseconds on purpose: call these through asyncio.to_thread.
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no hash (unknown user) spends the same time and says no."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


# -- sessions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    user: StaffUser
    sid: str
    """Random per login; CSRF tokens are bound to it."""
    issued_at: datetime
    expires_at: datetime
    epoch: int = 0
    """The account's session epoch at login (`cityhall.web.sessions`)."""


class SessionCodec:
    """Signs and reads session tokens (itsdangerous, HMAC-SHA512 over a compact JSON payload)."""

    def __init__(self, config: WebConfig) -> None:
        self.lifetime = config.session_lifetime
        self._serializer = URLSafeTimedSerializer(
            config.session_secret,
            salt=config.session_salt,
            signer_kwargs={"digest_method": hashlib.sha512},
        )

    def issue(self, user: StaffUser, *, epoch: int = 0, now: datetime | None = None) -> tuple[str, Session]:
        now = now or datetime.now(UTC)
        session = Session(
            user=user,
            sid=secrets.token_urlsafe(16),
            issued_at=now,
            expires_at=now + self.lifetime,
            epoch=epoch,
        )
        payload = {
            "u": user.username,
            "n": user.display_name,
            "r": sorted(user.roles),
            "sid": session.sid,
            "e": epoch,
            "iat": int(now.timestamp()),
            "exp": int(session.expires_at.timestamp()),
        }
        return self._serializer.dumps(payload), session

    def read(self, token: str, *, now: datetime | None = None) -> Session | None:
        """The session, or None when the token is forged, malformed or expired."""
        try:
            payload = self._serializer.loads(token, max_age=int(self.lifetime.total_seconds()) + 60)
            user = StaffUser(
                username=str(payload["u"]), display_name=str(payload["n"]), roles=frozenset(payload["r"])
            )
            issued = datetime.fromtimestamp(int(payload["iat"]), UTC)
            expires = datetime.fromtimestamp(int(payload["exp"]), UTC)
            sid = str(payload["sid"])
            epoch = int(payload.get("e", 0))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        if expires <= (now or datetime.now(UTC)):
            return None
        return Session(user=user, sid=sid, issued_at=issued, expires_at=expires, epoch=epoch)


# -- OIDC -----------------------------------------------------------------------------------


class InvalidToken(Exception):
    """A bearer token that cannot be trusted (signature, issuer, audience, expiry, shape)."""


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


class OidcVerifier:
    """Validates JWTs from one issuer against its JWKS (keys cached, refetched for unknown kids)."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300, timeout=5)

    def verify(self, token: str) -> StaffUser:
        """Blocking (may fetch the JWKS): call through `verify_async` from async code."""
        s = self.settings
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=list(s.algorithms),
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWKClientError as exc:
            raise InvalidToken(f"no usable signing key: {exc}") from exc
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(str(exc)) from exc
        username = _claim(claims, s.username_claim) or claims["sub"]
        roles = _claim(claims, s.roles_claim)
        if isinstance(roles, str):
            roles = roles.split()
        if not isinstance(roles, list):
            roles = []
        return StaffUser(
            username=str(username),
            display_name=str(claims.get("name") or username),
            roles=frozenset(str(r) for r in roles),
        )

    async def verify_async(self, token: str) -> StaffUser:
        return await asyncio.to_thread(self.verify, token)


# -- the kit's state on an app --------------------------------------------------------------


def is_https(request: Request, config: WebConfig) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https" or config.public_url.startswith("https://")


def client_address(request: Request, config: WebConfig) -> str:
    """The client's address: the peer's, or, when the peer is one of `config.trusted_proxies`,
    the nearest address in `X-Forwarded-For` that is not a trusted proxy (what the proxy
    itself saw; anything further left the client may have written)."""
    peer = request.client.host if request.client else "unknown"
    if not config.trusted_proxies or not _trusted(peer, config):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, config):
            return hop
    return hops[0] if hops else peer


def _trusted(address: str, config: WebConfig) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in config.trusted_proxies)


class StaffAuth:
    """Everything the dependencies need, kept on `app.state.cityhall_web` by `install`."""

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.sessions = SessionCodec(config)
        self.oidc = OidcVerifier(config.oidc) if config.oidc else None
        self._csrf_key = hmac.new(config.session_secret.encode(), b"cityhall.csrf", hashlib.sha256).digest()

    def sign(self, value: str) -> str:
        return hmac.new(self._csrf_key, value.encode(), hashlib.sha256).hexdigest()

    def csrf_token_for(self, session: Session) -> str:
        """The CSRF token pages of this session carry (what `csrf_token()` gives them)."""
        return self.sign(f"session:{session.sid}")

    def signed_in(self, user: StaffUser, epoch: int = 0) -> tuple[str, str]:
        """For tests and tools: a new session for `user` as (`cityhall_staff` cookie value, CSRF token)."""
        token, session = self.sessions.issue(user, epoch=epoch)
        return token, self.csrf_token_for(session)

    async def authenticate(self, request: Request) -> StaffUser | None:
        """The person behind the request (cached on `request.state`), or None."""
        state = request.state
        if getattr(state, "cityhall_authenticated", False):
            user: StaffUser | None = state.cityhall_user
            return user
        user, session, bearer = None, None, False
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            bearer = True
            if self.oidc is not None:
                try:
                    user = await self.oidc.verify_async(header[7:].strip())
                except InvalidToken as exc:
                    log.info("bearer token refused: %s", exc)
        else:
            token = request.cookies.get(self.config.cookie_name)
            session = self.sessions.read(token) if token else None
            epochs = self.config.session_epochs
            if (
                session is not None
                and epochs is not None
                and not await epochs.valid(session.user.username, session.epoch)
            ):
                session = None  # ended on the server: logout, disabled, roles changed
            user = session.user if session else None
        state.cityhall_user, state.cityhall_session, state.cityhall_bearer = user, session, bearer
        state.cityhall_authenticated = True
        return user

    def login(self, request: Request, response: Response, user: StaffUser, epoch: int = 0) -> Session:
        """Start a session (of the account's current `epoch`): sets the signed cookie on `response`."""
        token, session = self.sessions.issue(user, epoch=epoch)
        response.set_cookie(
            self.config.cookie_name,
            token,
            max_age=int(self.config.session_lifetime.total_seconds()),
            path=self.config.cookie_path,
            httponly=True,
            samesite="lax",
            secure=is_https(request, self.config),
        )
        request.state.cityhall_user, request.state.cityhall_session = user, session
        request.state.cityhall_authenticated = True
        return session

    def logout(self, request: Request, response: Response) -> None:
        response.delete_cookie(
            self.config.cookie_name,
            path=self.config.cookie_path,
            httponly=True,
            samesite="lax",
            secure=is_https(request, self.config),
        )


def staff_auth(request: Request) -> StaffAuth:
    auth = getattr(request.app.state, "cityhall_web", None)
    if not isinstance(auth, StaffAuth):
        raise RuntimeError("this app has no staff auth: call cityhall.web.install(app, config) first")
    return auth


def safe_next(target: str | None, default: str) -> str:
    """A local path to go back to after login (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def login_required(request: Request) -> HTTPException:
    """The answer to a request without a valid login: 303 to the login page, or 401."""
    auth = staff_auth(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"{auth.config.login_url}?next={quote(here, safe='/')}"
    if request.headers.get("hx-request") == "true":
        # htmx follows redirects inside its XHR; tell it to load the login page instead,
        # coming back to the page the person was on.
        current = urlsplit(request.headers.get("hx-current-url", ""))
        page = safe_next(current.path + (f"?{current.query}" if current.query else ""), here)
        return HTTPException(
            401,
            LOGIN_REQUIRED_MESSAGE,
            headers={"HX-Redirect": f"{auth.config.login_url}?next={quote(page, safe='/')}"},
        )
    if wants_json(request):
        return HTTPException(401, LOGIN_REQUIRED_MESSAGE, headers={"WWW-Authenticate": "Bearer"})
    return HTTPException(303, LOGIN_REQUIRED_MESSAGE, headers={"Location": location})


async def current_user(request: Request) -> StaffUser | None:
    """Dependency: the signed-in person, or None."""
    return await staff_auth(request).authenticate(request)


async def require_user(request: Request) -> StaffUser:
    """Dependency: any signed-in person (else 303 to the login page, or 401 for APIs)."""
    user = await staff_auth(request).authenticate(request)
    if user is None:
        raise login_required(request)
    return user


def require_role(*roles: str) -> Callable[[Request], Awaitable[StaffUser]]:
    """Dependency factory: a signed-in person holding any of `roles` (else login, or 403)."""
    if not roles:
        raise ValueError("require_role needs at least one role")
    wanted = frozenset(roles)

    async def dependency(request: Request) -> StaffUser:
        user = await require_user(request)
        if user.roles.isdisjoint(wanted):
            raise HTTPException(403, FORBIDDEN_MESSAGE)
        return user

    dependency.__name__ = f"require_role_{'_'.join(sorted(wanted)).replace('-', '_')}"
    return dependency
