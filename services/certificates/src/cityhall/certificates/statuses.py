"""A request's status as people read it: the one table the chat, the resident's pages and the
staff dashboard all show, and which statuses a resident may still pay or cancel."""

from __future__ import annotations

from typing import cast

from cityhall.certificates.domain import AWAITING_PAYMENT, Status

STATUS_LABELS: dict[Status, str] = {
    "new": "未申請",
    "drafting": "入力中",
    "payment_pending": "お支払い待ち",
    "payment_failed": "お支払い未完了",
    "paid": "本人確認中",
    "approved": "発行準備中",
    "issued": "発送準備中",
    "mailed": "発送済み",
    "rejected": "差し戻し",
    "cancelled": "取り消し",
    "expired": "期限切れ",
}

CANCELLABLE: frozenset[Status] = frozenset(
    {"drafting", "payment_pending", "payment_failed", "paid", "approved"}
)
PAYABLE: frozenset[Status] = AWAITING_PAYMENT


def status_label(status: str) -> str:
    """The label of `status`; an unknown one (a newer version's) as it is."""
    return STATUS_LABELS.get(cast(Status, status), status)
