"""Password hashing and the signed session tokens, without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cityhall.web import StaffUser, WebConfig
from cityhall.web.auth import SessionCodec, hash_password, password_needs_rehash, verify_password
from cityhall.web.config import ConfigError, generated_secret
from cityhall.web.dashboards import discover_dashboards

from .conftest import new_config

CLERK = StaffUser("cert-clerk", "証明書係 市川", frozenset({"certificates"}))


def test_password_hash_is_argon2id_and_verifies() -> None:
    hashed = hash_password("s3cret-passw0rd")
    assert hashed.startswith("$argon2id$")
    assert "s3cret" not in hashed
    assert verify_password(hashed, "s3cret-passw0rd")
    assert not verify_password(hashed, "s3cret-passw0rd ")
    assert not verify_password(hashed, "")
    assert not password_needs_rehash(hashed)


def test_two_hashes_of_one_password_differ() -> None:
    assert hash_password("same password") != hash_password("same password")


def test_unknown_user_and_garbage_hash_do_not_verify() -> None:
    assert not verify_password(None, "anything")
    assert not verify_password("not-a-hash", "anything")


def test_session_round_trip() -> None:
    codec = SessionCodec(new_config())
    token, session = codec.issue(CLERK)
    read = codec.read(token)
    assert read is not None
    assert read.user == CLERK
    assert read.sid == session.sid
    assert read.expires_at - read.issued_at == timedelta(hours=8)


def test_forged_or_foreign_session_is_refused() -> None:
    codec = SessionCodec(new_config())
    token, _ = codec.issue(CLERK)
    payload, _, signature = token.rpartition(".")
    tampered = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    assert codec.read(tampered) is None
    assert codec.read("garbage") is None
    other, _ = SessionCodec(new_config()).issue(CLERK)
    assert codec.read(other) is None


def test_expired_session_is_refused() -> None:
    codec = SessionCodec(new_config())
    token, _ = codec.issue(CLERK, now=datetime.now(UTC) - timedelta(hours=9))
    assert codec.read(token) is None
    fresh, _ = codec.issue(CLERK, now=datetime.now(UTC) - timedelta(hours=7))
    assert codec.read(fresh) is not None


def test_config_needs_a_long_secret_and_complete_oidc() -> None:
    with pytest.raises(ConfigError):
        WebConfig(session_secret="short")
    with pytest.raises(ConfigError):
        WebConfig.from_env({})
    with pytest.raises(ConfigError):
        WebConfig.from_env({"CITYHALL_SESSION_SECRET": "x" * 40, "CITYHALL_OIDC_ISSUER": "https://idp"})
    config = WebConfig.from_env({"CITYHALL_SESSION_SECRET": "x" * 40, "CITYHALL_SESSION_HOURS": "2"})
    assert config.session_lifetime == timedelta(hours=2)
    assert config.oidc is None


def test_embedded_secret_is_generated_once(tmp_path: Path) -> None:
    data = tmp_path
    first = WebConfig.from_env({}, data_dir=data).session_secret
    assert first == WebConfig.from_env({}, data_dir=data).session_secret == generated_secret(data)
    assert (data / "session-secret").stat().st_mode & 0o777 == 0o600
    assert WebConfig.from_env({"CITYHALL_SESSION_SECRET": "y" * 40}, data_dir=data).session_secret == "y" * 40


def test_user_departments() -> None:
    admin = StaffUser("a", "A", frozenset({"certificates-admin", "certificates"}))
    assert admin.departments == ["certificates"]
    assert admin.department == "certificates"
    assert admin.has_role("roads", "certificates-admin")
    assert not CLERK.has_role("certificates-admin")
    assert CLERK.department_label == "市民課 証明書係"


def test_the_kits_variables_are_validated_naming_the_variable() -> None:
    secret = {"CITYHALL_SESSION_SECRET": "x" * 40}
    with pytest.raises(ConfigError, match=r"^CITYHALL_SESSION_HOURS: .*valid number.*\(got 'eight'\)"):
        WebConfig.from_env({**secret, "CITYHALL_SESSION_HOURS": "eight"})
    with pytest.raises(ConfigError, match=r"^CITYHALL_DASHBOARDS: .*JSON"):
        discover_dashboards({"CITYHALL_DASHBOARDS": "[not json"})
    assert WebConfig.from_env({**secret, "CITYHALL_STAFF_PORTAL_URL": "/portal/"}).portal_url == "/portal"
