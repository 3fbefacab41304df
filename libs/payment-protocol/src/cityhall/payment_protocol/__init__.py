"""The contract between the city hall (the merchant) and a payment provider.

Both sides of the HTTP protocol described in `cityhall.payment_protocol.port` need the same few
things, kept here once so that neither imports the other:

- the secret they share (`CITYHALL_PAYMENTS_SECRET`; the API's bearer and the notices' key);
- the signature of a notice: the hex HMAC-SHA256 of the raw body in `X-Payment-Signature`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

SIGNATURE_HEADER = "X-Payment-Signature"
SECRET_ENV = "CITYHALL_PAYMENTS_SECRET"
MAX_NOTICE_BYTES = 64 * 1024
"""The largest notice a merchant reads (a notice is a few hundred bytes; more is refused with 413)."""


def sign(secret: str, body: bytes) -> str:
    """The signature of a notice's raw body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether `signature` (as sent, any case) is the body's signature; compared in constant time."""
    return bool(signature) and hmac.compare_digest(sign(secret, body), (signature or "").strip().lower())


def shared_secret(configured: str | None, data_dir: Path, *, generate: bool) -> str:
    """`configured` (each side reads `CITYHALL_PAYMENTS_SECRET` with its own settings); with
    `generate` (the embedded run beside its simulated provider), one generated once and kept in
    the data dir."""
    if configured:
        return configured
    if not generate:
        raise SystemExit(f"set {SECRET_ENV}: the secret shared with the payment provider")
    path = data_dir / "payments-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
