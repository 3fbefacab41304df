"""Faults between notify and LINE, and notify SIGKILLed mid-burst: every message arrives exactly once."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityhall.events.backoff import Backoff
from cityhall.events.testing import wait_for
from cityhall.events.testing.processes import KillableProcess
from cityhall.line.contracts import OutboundMessageRequested
from cityhall.line_emulator.app import create_app
from cityhall.line_emulator.settings import EmulatorSettings
from cityhall.notify.events import MessageDelivered, NoticeCompleted, notice_stream
from cityhall.notify.line_api import retry_key
from cityhall.web import StaffUser

from .conftest import TOKEN, WEB, HarnessFactory, outbound, quick_options, user


class FaultInjector:
    """ASGI middleware in front of the real emulator. For each request to a scripted path it takes
    the next action: "503" answers 503 without the emulator seeing the request; "late" lets the
    emulator accept it and holds the answer back for `delay` seconds (a timeout at the client)."""

    def __init__(
        self, app: ASGIApp, script: dict[str, list[str]], seen: list[str | None], delay: float
    ) -> None:
        self.app, self.script, self.seen, self.delay = app, script, seen, delay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        actions = self.script.get(scope.get("path", "")) if scope["type"] == "http" else None
        if actions is None:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        self.seen.append(headers.get(b"x-line-retry-key", b"").decode() or None)
        action = actions.pop(0) if actions else "pass"
        if action == "pass":
            await self.app(scope, receive, send)
            return
        if action == "503":
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b'{"message":"Service Unavailable"}'})
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        await asyncio.sleep(self.delay)
        for message in held:
            await send(message)


def faulty_emulator(script: dict[str, list[str]], seen: list[str | None]) -> object:
    app = create_app(EmulatorSettings())
    app.add_middleware(FaultInjector, script=script, seen=seen, delay=1.5)
    return app


FAST = quick_options(workers=4, line_timeout=0.5, backoff=Backoff(base=0.05, cap=0.2))


async def test_5xx_and_timeouts_are_retried_under_the_same_retry_key(make_harness: HarnessFactory) -> None:
    seen: list[str | None] = []
    app = faulty_emulator({"/v2/bot/message/push": ["503", "late"]}, seen)
    harness = await make_harness(emulator_app=app, options=FAST)
    resident = user()
    envelope = outbound(resident)
    await harness.publish(envelope)

    [outcome] = await harness.settled(envelope)
    # 503; then accepted but answered too late; then 409 for the key the late one used.
    assert isinstance(outcome, MessageDelivered)
    assert outcome.method == "push" and outcome.already_accepted and outcome.attempts == 3
    request = envelope.event()
    assert isinstance(request, OutboundMessageRequested)
    assert seen == [retry_key(request.idempotency_key)] * 3
    assert len(await harness.messages(resident)) == 1


async def test_a_reply_answered_too_late_is_not_delivered_twice(make_harness: HarnessFactory) -> None:
    seen: list[str | None] = []
    app = faulty_emulator({"/v2/bot/message/reply": ["late"]}, seen)
    harness = await make_harness(emulator_app=app, options=FAST)
    resident = user()
    envelope = await harness.reply_to_text(resident)
    await harness.publish(envelope)

    [outcome] = await harness.settled(envelope)
    # The token was used by the attempt whose answer never came: LINE refuses it now.
    assert isinstance(outcome, MessageDelivered) and outcome.method == "reply" and outcome.already_accepted
    assert [m["endpoint"] for m in await harness.messages(resident)] == ["reply"]
    assert await harness.stats("push") == {}


# --- SIGKILL -------------------------------------------------------------------------------


def notify_process(dsn: str, line_api_url: str) -> KillableProcess:
    """notify alone in its own process, on this test's database and emulator."""
    script = str(Path(__file__).with_name("notify_process.py"))
    return KillableProcess(
        [sys.executable, script, dsn, line_api_url, TOKEN],
        env={"CITYHALL_SESSION_SECRET": WEB.session_secret},
    )


async def test_sigkill_in_a_burst_of_500_still_delivers_each_message_exactly_once(
    make_harness: HarnessFactory, fresh_database: str, child_processes: list[KillableProcess]
) -> None:
    harness = await make_harness(run=False)  # notify runs in the subprocess; this is the test's view
    residents = [user() for _ in range(500)]
    envelopes = []
    for i, resident in enumerate(residents):
        if i % 4 == 0:  # a quarter are replies, the rest pushes
            envelopes.append(await harness.reply_to_text(resident))
        else:
            envelopes.append(outbound(resident))
    await harness.publish(*envelopes)

    async def settled() -> int:
        count: int = await harness.pool.fetchval(
            "SELECT count(DISTINCT stream) FROM events WHERE category = 'delivery' AND type = $1",
            MessageDelivered.TYPE,
        )
        return count

    notify = notify_process(fresh_database, harness.emulator.url)
    child_processes.append(notify)
    notify.start()

    def some_delivered() -> bool:
        stats = harness.emulator.state.stats()["endpoints"]  # in-process: no HTTP round trip to wait on
        return sum(stats.get(e, {}).get("accepted", 0) for e in ("push", "reply")) >= 50

    await wait_for(some_delivered, timeout=60, interval=0.002, message="50 deliveries before the kill")
    notify.kill()
    settled_at_kill = await settled()
    assert settled_at_kill < len(envelopes), "the kill came too late to land mid-burst"

    restarted = notify_process(fresh_database, harness.emulator.url)
    child_processes.append(restarted)
    started = time.monotonic()
    restarted.start()

    async def all_settled() -> bool:
        queued = await harness.pool.fetchval("SELECT count(*) FROM delivery_queue")
        return queued == 0 and await settled() == len(envelopes)

    await wait_for(all_settled, timeout=90, interval=0.1, message="every request delivered after the restart")
    print(f"\n{settled_at_kill} settled at the kill, all {time.monotonic() - started:.1f}s after the restart")

    for resident in residents:
        got = await harness.messages(resident)
        assert len(got) == 1, (resident, got)
    outcomes = await harness.pool.fetchval(
        "SELECT count(*) FROM events WHERE category = 'delivery' AND type = $1", MessageDelivered.TYPE
    )
    assert outcomes == len(envelopes)  # one outcome per request, however often it was sent


async def test_sigkill_mid_alert_resumes_with_none_lost_and_none_twice(
    make_harness: HarnessFactory, fresh_database: str, child_processes: list[KillableProcess]
) -> None:
    harness = await make_harness(run=False)  # notify runs in the subprocess; this is the test's view
    count = 100_000  # 200 multicasts: a second at LINE's rate
    async with harness.pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO audience (user_id, district, interests)
               SELECT 'U' || md5(g::text), 2, '{2}' FROM generate_series(1, $1) AS g""",
            count,
        )
    notify = notify_process(fresh_database, harness.emulator.url)
    child_processes.append(notify)
    notify.start()
    author = StaffUser("notify-author", "広報係", frozenset({"notify-author"}))
    approver = StaffUser("notify-approver", "広報課長", frozenset({"notify-approver"}))
    notice_id = await harness.notify.desk.draft(
        author, kind="alert", title="避難指示", condition={"district": ["kita"]},
        texts={"ja": "北町に避難指示を発令しました。"},
    )  # fmt: skip
    await harness.notify.desk.approve(approver, notice_id)

    def accepted() -> int:
        stats = harness.emulator.state.stats()["endpoints"]  # in-process: no HTTP round trip to wait on
        return int(stats.get("multicast", {}).get("accepted", 0))

    await wait_for(
        lambda: accepted() >= 40, timeout=60, interval=0.002, message="40 multicasts before the kill"
    )
    notify.kill()
    at_kill = accepted()
    assert at_kill < count // 500, "the kill came too late to land mid-alert"

    restarted = notify_process(fresh_database, harness.emulator.url)
    child_processes.append(restarted)
    restarted.start()

    async def completed() -> bool:
        return bool(await harness.events(NoticeCompleted, stream=notice_stream(notice_id)))

    await wait_for(completed, timeout=90, interval=0.1, message="the alert completed after the restart")
    [done] = await harness.events(NoticeCompleted, stream=notice_stream(notice_id))
    assert isinstance(done, NoticeCompleted) and (done.delivered, done.failed) == (count, 0)
    received = Counter(m["to"] for m in harness.emulator.state.messages())
    assert len(received) == count and set(received.values()) == {1}  # none lost, none twice
    stats = harness.emulator.state.stats()["endpoints"]["multicast"]
    print(f"\n{at_kill} multicasts accepted at the kill; {stats['conflicts']} resent chunks answered 409")
