"""OIDC: bearer JWTs checked against an issuer's JWKS, served here by a local HTTP server."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from cityhall.web.auth import InvalidToken, OidcVerifier
from cityhall.web.config import OidcSettings, WebConfig

from .conftest import Site, make_site, new_config

ISSUER = "https://idp.example.jp/realms/city"
AUDIENCE = "cityhall-staff"
KID = "key-1"


def new_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Issuer:
    """An identity provider's signing key and its JWKS endpoint on 127.0.0.1."""

    def __init__(self) -> None:
        self.key = new_key()
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}
        self.fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.fetches += 1
                body = json.dumps(issuer.jwks).encode()
                self.send_response(200 if self.path == "/jwks" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def settings(self) -> OidcSettings:
        return OidcSettings(
            issuer=ISSUER, audience=AUDIENCE, jwks_url=f"http://127.0.0.1:{self.server.server_port}/jwks"
        )

    def token(self, key: RSAPrivateKey | None = None, kid: str = KID, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "f3b1c2d4",
            "preferred_username": "yamada",
            "name": "証明書係 山田",
            "iat": now,
            "exp": now + 300,
            "roles": ["certificates"],
            **claims,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    idp = Issuer()
    try:
        yield idp
    finally:
        idp.close()


def test_good_token_gives_the_person_and_roles(issuer: Issuer) -> None:
    user = OidcVerifier(issuer.settings).verify(issuer.token(roles=["certificates", "certificates-admin"]))
    assert user.username == "yamada"
    assert user.display_name == "証明書係 山田"
    assert user.roles == {"certificates", "certificates-admin"}


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"aud": "another-app"}, "audience"),
        ({"iss": "https://evil.example/realms/city"}, "issuer"),
        ({"exp": None}, "exp"),
        ({"sub": None}, "sub"),
    ],
)
def test_bad_claims_are_refused(issuer: Issuer, claims: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidToken):
        OidcVerifier(issuer.settings).verify(issuer.token(**claims))


def test_bad_signature_is_refused(issuer: Issuer) -> None:
    verifier = OidcVerifier(issuer.settings)
    with pytest.raises(InvalidToken):
        verifier.verify(issuer.token(key=new_key()))  # same kid, someone else's key
    with pytest.raises(InvalidToken):
        verifier.verify(issuer.token(kid="unknown-key"))
    good = issuer.token()
    head, _body, signature = good.split(".")
    forged_body = jwt.utils.base64url_encode(
        json.dumps({**jwt.decode(good, options={"verify_signature": False}), "roles": ["roads"]}).encode()
    ).decode()
    with pytest.raises(InvalidToken):
        verifier.verify(f"{head}.{forged_body}.{signature}")


def test_symmetric_and_unsigned_tokens_are_refused(issuer: Issuer) -> None:
    verifier = OidcVerifier(issuer.settings)
    claims = jwt.decode(issuer.token(), options={"verify_signature": False})
    hs = jwt.encode(
        claims, "shared-secret-that-is-long-enough-for-hs256", algorithm="HS256", headers={"kid": KID}
    )
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": KID})  # type: ignore[arg-type]
    for token in (hs, unsigned, "not.a.jwt", ""):
        with pytest.raises(InvalidToken):
            verifier.verify(token)


def test_roles_from_a_nested_claim_or_a_string(issuer: Issuer) -> None:
    keycloak = replace(issuer.settings, roles_claim="realm_access.roles")
    user = OidcVerifier(keycloak).verify(
        issuer.token(roles=None, realm_access={"roles": ["roads", "notify"]})
    )
    assert user.roles == {"roads", "notify"}
    spaced = OidcVerifier(replace(issuer.settings, roles_claim="groups")).verify(
        issuer.token(groups="roads notify")
    )
    assert spaced.roles == {"roads", "notify"}
    none = OidcVerifier(issuer.settings).verify(issuer.token(roles=None, preferred_username=None))
    assert none.roles == frozenset()
    assert none.username == "f3b1c2d4"  # falls back to sub


def test_settings_from_the_environment(issuer: Issuer) -> None:
    env = {
        "CITYHALL_SESSION_SECRET": secrets.token_urlsafe(40),
        "CITYHALL_OIDC_ISSUER": ISSUER,
        "CITYHALL_OIDC_AUDIENCE": AUDIENCE,
        "CITYHALL_OIDC_JWKS_URL": issuer.settings.jwks_url,
        "CITYHALL_OIDC_ROLES_CLAIM": "realm_access.roles",
    }
    config = WebConfig.from_env(env)
    assert config.oidc is not None
    assert config.oidc.roles_claim == "realm_access.roles"
    assert config.oidc.jwks_url == issuer.settings.jwks_url


async def test_bearer_tokens_on_staff_pages_and_apis(site: Site, issuer: Issuer) -> None:
    oidc_site = make_site(replace(new_config(), oidc=issuer.settings), site.pool, site.accounts)
    clerk = {"Authorization": f"Bearer {issuer.token()}"}
    roads = {"Authorization": f"Bearer {issuer.token(roles=['roads'])}"}
    expired = {"Authorization": f"Bearer {issuer.token(exp=int(time.time()) - 3600)}"}
    async with oidc_site.client() as client:
        assert (await client.get("/staff/certificates/api/notes", headers=clerk)).json() == []
        assert (await client.get("/staff/certificates/api/notes", headers=roads)).status_code == 403
        refused = await client.get("/staff/certificates/api/notes", headers=expired)
        assert refused.status_code == 401
        assert refused.json() == {"detail": "ログインしてください。"}
        # Browsers never attach bearer tokens on their own: no CSRF token needed.
        added = await client.post("/staff/certificates/notes", data={"note": "from the API"}, headers=clerk)
        assert added.status_code == 204
        stale = await client.post("/staff/certificates/notes", data={"note": "expired"}, headers=expired)
        assert stale.status_code == 401
        me = await client.get("/staff/api/me", headers=clerk)
        assert me.json()["username"] == "yamada"
        assert [d["key"] for d in me.json()["dashboards"]] == ["certificates"]
    assert await site.notes() == ["from the API"]
    # A site without OIDC ignores bearer tokens.
    async with site.client() as client:
        assert (await client.get("/staff/certificates/api/notes", headers=clerk)).status_code == 401
