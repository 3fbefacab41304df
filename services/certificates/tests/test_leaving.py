"""Leaving the dialog mid-request: the gateway's `DialogLeft` notice gets the resident told that
the request is kept as a draft and how to go on; without a draft, nothing is said."""

from __future__ import annotations

from datetime import UTC, datetime

from cityhall.events.envelope import Envelope
from cityhall.events.testing import wait_for
from cityhall.line.contracts import DialogLeft, OutboundMessageRequested, intents_topic
from cityhall.line.webhooks import ulid

from .conftest import Harness, Resident, find_postback

MENU = "domain=certificates&action=menu"


async def leave(harness: Harness, resident: Resident, to_domain: str = "reservations") -> Envelope:
    """What the gateway publishes when the resident taps another domain's tile."""
    notice = DialogLeft(
        user_id=resident.user_id,
        domain="certificates",
        to_domain=to_domain,
        webhook_event_id=ulid(),
        timestamp=datetime.now(UTC),
    )
    envelope = Envelope.wrap(
        notice,
        source="/services/gateway",
        subject=f"dialogLeft-{notice.webhook_event_id}",
        topic=intents_topic("certificates"),
        key=resident.user_id,
    )
    await harness.publish(envelope)
    return envelope


async def test_a_resident_who_leaves_mid_request_is_told_the_draft_is_kept_and_resumes_it(
    harness: Harness,
) -> None:
    resident = harness.resident()
    carousel = await resident.tap(MENU, expect="申請できる証明書の一覧")
    await resident.tap(find_postback(carousel, "申請する"), expect="記載する人の範囲")
    mark = await resident.count()
    await leave(harness, resident)
    kept = await resident.expect("下書きとして保存", since=mark)
    # The notice's own button picks the request up where it was.
    await resident.tap(find_postback(kept, "入力を続ける"), expect="記載する人の範囲")
    # So does the menu (証明書 → 入力を続ける), after leaving again.
    await leave(harness, resident, to_domain="guide")
    menu = await resident.tap(MENU, expect="申請できる証明書の一覧")
    await resident.tap(find_postback(menu, "入力を続ける"), expect="記載する人の範囲")


async def test_a_resident_without_a_draft_who_leaves_is_not_messaged(harness: Harness) -> None:
    resident = harness.resident()
    await resident.tap(MENU, expect="申請できる証明書の一覧")  # looked, started nothing
    envelope = await leave(harness, resident)

    async def handled() -> bool:
        return bool(await harness.pool.fetchval("SELECT 1 FROM inbox WHERE event_id = $1", envelope.id))

    await wait_for(handled, timeout=20, message="certificates did not take the notice")
    notice = envelope.event()
    assert isinstance(notice, DialogLeft)
    keys = [
        e.event().model_dump()["idempotency_key"] for e in await harness.all_events(OutboundMessageRequested)
    ]
    assert keys and f"certificates:left:{notice.webhook_event_id}" not in keys
