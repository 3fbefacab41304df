"""Pages for residents on the town's own server, opened from links in the LINE chat.

LINE messages stay on LINE's servers, so the chat shows personal fields masked; the full
request is shown here instead, behind a link signed for one request and its resident:

- `/r/{request}/review?e=<expiry>&s=<signature>`: the whole request, readable for
  `REVIEW_TTL` (15 minutes). A tampered link gets 403 and an expired one 410, never data.
- `/r/{request}/pay?s=<signature>`: the 支払う button; leads to the request's current
  checkout, so an old message's button never reopens a checkout that failed.

The signature is an HMAC over the purpose, the request, the resident's LINE user id and the
expiry, under a key derived from the service's session secret; the user id is never in the
URL (the server checks the signature against the request's own resident). Nothing is cached.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from cityhall.certificates.catalogue import Catalogue
from cityhall.certificates.domain import Request as CertificateRequest
from cityhall.certificates.events import Command, request_stream
from cityhall.certificates.messages import FIELD_LABELS, personal_fields, yen
from cityhall.certificates.statuses import STATUS_LABELS
from cityhall.events.db import Pool
from cityhall.events.decider import CommandHandler
from cityhall.events.personal import FORGOTTEN, PersonalData
from cityhall.line.japanese import date_ja, datetime_ja
from cityhall.web import create_templates

REVIEW_TTL = timedelta(minutes=15)
PREFIX = "/r"
NO_STORE = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
}
Purpose = Literal["review", "pay"]


class LinkRefused(Exception):
    def __init__(self, status: Literal[403, 410]) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class ResidentLinks:
    """Signs and checks the links to these pages."""

    key: bytes
    base_url: str
    """Where the pages are served, e.g. `https://city.example/staff/certificates`."""
    clock: Callable[[], datetime]

    @classmethod
    def from_secret(cls, secret: str, base_url: str, clock: Callable[[], datetime]) -> ResidentLinks:
        key = hmac.new(secret.encode(), b"cityhall.certificates.resident-links", hashlib.sha256).digest()
        return cls(key, base_url.rstrip("/"), clock)

    def _signature(self, purpose: Purpose, request_id: uuid.UUID, user_id: str, expires: int) -> str:
        message = f"{purpose}\n{request_id.hex}\n{user_id}\n{expires}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()[:32]

    def review_url(self, request_id: uuid.UUID, user_id: str) -> str:
        expires = int((self.clock() + REVIEW_TTL).timestamp())
        signature = self._signature("review", request_id, user_id, expires)
        return f"{self.base_url}{PREFIX}/{request_id.hex}/review?e={expires}&s={signature}"

    def pay_url(self, request_id: uuid.UUID, user_id: str) -> str:
        signature = self._signature("pay", request_id, user_id, 0)
        return f"{self.base_url}{PREFIX}/{request_id.hex}/pay?s={signature}"

    def check(self, purpose: Purpose, state: CertificateRequest, expires: str, signature: str) -> None:
        """`LinkRefused(403)` unless signed for this request and resident, `(410)` once expired."""
        try:
            moment = int(expires)
        except ValueError:
            raise LinkRefused(403) from None
        if state.request_id is None or not hmac.compare_digest(
            self._signature(purpose, state.request_id, state.user_id, moment), signature
        ):
            raise LinkRefused(403)
        if purpose == "review" and moment <= self.clock().timestamp():
            raise LinkRefused(410)


REFUSALS = {
    403: (
        "このリンクは使えません",
        "リンクが正しくないため、申請内容を表示できません。LINEのトークに届いたリンクから開いてください。",
    ),
    410: (
        "リンクの有効期限が切れています",
        "個人情報を守るため、申請内容を確認するリンクは15分で使えなくなります。"
        "LINEのトークに戻り、「内容を確認する」と送信すると、新しいリンクをお送りします。",
    ),
    404: ("申請が見つかりません", "この申請は見つかりませんでした。LINEのトークからお手続きください。"),
}
PAYMENT_NOTES = {
    "payment_failed": "前回のお支払いは完了しませんでした。LINEのトークに戻り、「もう一度支払う」を押してください。",
    "expired": "お支払いの期限が過ぎたため、この申請は取り消されました。必要な場合は、もう一度お申し込みください。",
    "cancelled": "この申請は取り消されています。",
}


def router(
    pool: Pool,
    requests: CommandHandler[Command, CertificateRequest],
    personal: PersonalData,
    catalogue: Catalogue,
    links: ResidentLinks,
) -> APIRouter:
    routes = APIRouter(prefix=PREFIX)
    templates = create_templates(Path(__file__).parent / "templates")

    def page(request: Request, title: str, status: int = 200, **context: object) -> Response:
        response = templates.TemplateResponse(
            request, "resident/page.html", {"title": title, **context}, status_code=status
        )
        response.headers.update(NO_STORE)
        return response

    def refused(request: Request, status: int) -> Response:
        title, text = REFUSALS[status]
        return page(request, title, status, message=text)

    async def load(request_id: str) -> CertificateRequest | None:
        try:
            rid = uuid.UUID(hex=request_id)
        except ValueError:
            return None
        state, _version = await requests.load(request_stream(rid))
        return None if state.status == "new" else state

    @routes.get("/{request_id}/review", include_in_schema=False, response_class=HTMLResponse)
    async def review(request: Request, request_id: str, e: str = "", s: str = "") -> Response:
        state = await load(request_id)
        if state is None:
            return refused(request, 403)  # an unknown request looks like a bad link: no probing
        try:
            links.check("review", state, e, s)
        except LinkRefused as refusal:
            return refused(request, refusal.status)
        async with pool.acquire() as conn:
            details = {
                name: await personal.decrypt(token, conn=conn) for name, token in state.details.items()
            }
        return page(request, "申請内容の確認", rows=_rows(state, details, catalogue), state=state)

    @routes.get("/{request_id}/pay", include_in_schema=False, response_class=HTMLResponse)
    async def pay(request: Request, request_id: str, s: str = "") -> Response:
        state = await load(request_id)
        if state is None:
            return refused(request, 403)
        try:
            links.check("pay", state, "0", s)
        except LinkRefused as refusal:
            return refused(request, refusal.status)
        if state.status == "payment_pending" and state.checkout_url:
            return RedirectResponse(state.checkout_url, status_code=303, headers=NO_STORE)
        note = PAYMENT_NOTES.get(
            state.status,
            f"この申請のお支払いは済んでいます（状況：{STATUS_LABELS[state.status]}）。",
        )
        return page(request, "お支払い", message=f"受付番号 {state.number}：{note}")

    return routes


def _rows(state: CertificateRequest, details: dict[str, str], catalogue: Catalogue) -> list[tuple[str, str]]:
    cert = catalogue.certificate(state.certificate_code)
    names = {o.key: o.label for o in cert.options} if cert else {}
    rows = [("受付番号", state.number)] if state.status != "drafting" else []
    rows.append(("証明書", state.certificate_name))
    rows += [(names.get(key, key), state.option_labels.get(key, "")) for key in state.option_keys]
    rows += [("部数", f"{state.copies}通" if state.copies else ""), ("使用目的", state.purpose_label)]
    for name in personal_fields(state):
        label, value = FIELD_LABELS[name], details.get(name, "")
        if value == FORGOTTEN:
            value = "（消去済み）"
        elif name == "birth_date" and value:
            value = date_ja(date.fromisoformat(value), year=True)
        rows.append((label, value))
    rows += [
        ("本人確認書類", state.id_document_label),
        ("手数料", f"{yen(state.fee)} × {state.copies or 0}通 = {yen(state.fee * (state.copies or 0))}"),
        ("郵送料", yen(state.postage)),
        ("合計", yen(state.total)),
        ("状況", STATUS_LABELS[state.status]),
    ]
    if state.payment_deadline and state.status in ("payment_pending", "payment_failed"):
        rows.append(("お支払い期限", datetime_ja(state.payment_deadline)))
    return rows
