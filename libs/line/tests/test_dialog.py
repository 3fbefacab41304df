"""The dialog kit: a session store in a service's own table, and a turn written all or nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from linebot.v3.messaging import TextMessage

from cityhall.events.db import Connection, Pool, create_pool, migrate
from cityhall.events.decider import CommandHandler, Decider, DomainError
from cityhall.events.envelope import Envelope, Event
from cityhall.events.personal import PersonalData
from cityhall.events.store import EventStore
from cityhall.events.testing.samples import CounterIncremented
from cityhall.line.contracts import (
    DIALOGS_TOPIC,
    DialogClaimed,
    DialogReleased,
    OutboundMessageRequested,
    ResidentIntent,
)
from cityhall.line.dialog import Conversation, SessionStore, Turn, intent_of, seal_text

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
SOURCE = "/services/test"


@dataclass
class Step:
    request_id: uuid.UUID
    awaiting: str
    editing: bool = False


@dataclass(frozen=True)
class Add:
    by: int


def decide(command: Add, total: int) -> Sequence[Event]:
    if command.by <= 0:
        raise DomainError("not_positive")
    return [CounterIncremented(by=command.by)]


def evolve(total: int, event: Event) -> int:
    return total + event.by if isinstance(event, CounterIncremented) else total


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[Pool]:
    pool = await create_pool(fresh_database, "svc_test", max_size=4)
    await migrate(pool, ["cityhall.events"])
    await pool.execute(
        """CREATE TABLE steps (user_id text PRIMARY KEY, request_id uuid NOT NULL, awaiting text NOT NULL,
           editing boolean NOT NULL, updated_at timestamptz NOT NULL)"""
    )
    yield pool
    await pool.close()


def intent_envelope(user: str = "U1") -> tuple[Envelope, ResidentIntent]:
    intent = ResidentIntent(
        webhook_event_id=uuid.uuid4().hex,
        user_id=user,
        domain="certificates",
        kind="text",
        timestamp=NOW,
        reply_token="token",
        text="2通",
    )
    return Envelope.wrap(intent, source="/services/gateway", subject=f"resident-{user}"), intent


async def test_a_session_is_saved_loaded_replaced_and_ended(pool: Pool) -> None:
    sessions = SessionStore("steps", Step)
    first = Step(uuid.uuid4(), "copies")
    async with pool.acquire() as conn:
        assert await sessions.load(conn, "U1") is None
        await sessions.save(conn, "U1", first, now=NOW)
        assert await sessions.load(conn, "U1") == first
        await sessions.save(conn, "U1", Step(first.request_id, "purpose", editing=True), now=NOW)
        assert await sessions.load(conn, "U1") == Step(first.request_id, "purpose", editing=True)
        assert not await sessions.end(conn, "U1", request_id=uuid.uuid4())  # another draft's end
        assert await sessions.end(conn, "U1", request_id=first.request_id)
        assert await sessions.load(conn, "U1") is None
        await sessions.save(conn, "U1", first, now=NOW)
        await sessions.save(conn, "U1", None, now=NOW)
        assert await pool.fetchval("SELECT count(*) FROM steps") == 0


async def test_an_idle_session_reads_as_none(pool: Pool) -> None:
    sessions = SessionStore("steps", Step, idle=timedelta(minutes=30))
    async with pool.acquire() as conn:
        await sessions.save(conn, "U1", Step(uuid.uuid4(), "copies"), now=NOW)
        assert await sessions.load(conn, "U1", now=NOW + timedelta(minutes=29)) is not None
        assert await sessions.load(conn, "U1", now=NOW + timedelta(minutes=30)) is None
        with pytest.raises(ValueError, match="needs `now`"):
            await sessions.load(conn, "U1")


def test_a_store_refuses_names_that_are_not_identifiers() -> None:
    with pytest.raises(ValueError, match="table name"):
        SessionStore("steps; DROP TABLE steps", Step)
    with pytest.raises(TypeError, match="dataclass"):
        SessionStore("steps", dict)


def conversation(store: EventStore) -> Conversation[Step, Add]:
    counter: Decider[Add, int] = Decider(0, decide, evolve)
    return Conversation(
        domain="certificates",
        source=SOURCE,
        store=store,
        clock=lambda: NOW,
        sessions=SessionStore("steps", Step),
        commands=CommandHandler(store, counter, source=SOURCE),
    )


async def written(store: EventStore, conn: Connection, user: str) -> list[Event]:
    everything = await store.read_all(conn=conn)
    return [r.envelope.event() for r in everything if r.envelope.key == user or r.stream == "counter-1"]


async def test_a_turn_writes_commands_session_reply_and_claim_together(pool: Pool) -> None:
    store = EventStore(pool)
    talk = conversation(store)
    envelope, intent = intent_envelope()
    async with pool.acquire() as conn:
        turn = await talk.begin(conn, envelope, intent)
        assert turn.session is None and intent_of(envelope) == intent
        turn.session = Step(uuid.uuid4(), "purpose")
        turn.command("counter-1", Add(2))
        turn.say(TextMessage(text="使用目的をお選びください。"))
        turn.claim = True
        await talk.finish(conn, turn)
        events = await written(store, conn, "U1")
        assert [type(e) for e in events] == [CounterIncremented, OutboundMessageRequested, DialogClaimed]
        reply = events[1]
        assert isinstance(reply, OutboundMessageRequested)
        assert reply.reply_token == "token" and reply.messages[0]["text"] == "使用目的をお選びください。"
        assert await talk.begin(conn, envelope, intent) == Turn(intent, envelope, turn.session)


async def test_a_turn_that_ends_the_session_releases_the_dialog(pool: Pool) -> None:
    store = EventStore(pool)
    talk = conversation(store)
    envelope, intent = intent_envelope()
    async with pool.acquire() as conn:
        await talk.sessions.save(conn, "U1", Step(uuid.uuid4(), "copies"), now=NOW)  # type: ignore[union-attr]
        turn = await talk.begin(conn, envelope, intent)
        turn.session = None
        turn.claim = True  # a claim without a session is no claim
        await talk.finish(conn, turn)
        assert [type(e) for e in await written(store, conn, "U1")] == [DialogReleased]
        assert await pool.fetchval("SELECT count(*) FROM steps") == 0


class FailingDialogs(EventStore):
    """A store that fails on the last write of a turn (the dialog event)."""

    async def append_each(self, envelopes, **kwargs):  # type: ignore[no-untyped-def, override]
        if any(e.topic == DIALOGS_TOPIC for e in envelopes):
            raise RuntimeError("the database went away")
        return await super().append_each(envelopes, **kwargs)


@pytest.mark.parametrize("failure", ["store", "command"])
async def test_a_turn_that_fails_writes_nothing(pool: Pool, failure: str) -> None:
    store = FailingDialogs(pool) if failure == "store" else EventStore(pool)
    talk = conversation(store)
    before = Step(uuid.uuid4(), "copies")
    envelope, intent = intent_envelope()
    async with pool.acquire() as conn:
        await talk.sessions.save(conn, "U1", before, now=NOW - timedelta(minutes=1))  # type: ignore[union-attr]
        turn = await talk.begin(conn, envelope, intent)
        turn.session = Step(before.request_id, "purpose")
        turn.command("counter-1", Add(1))
        if failure == "command":
            turn.command("counter-1", Add(0))  # refused by the decider
        turn.say(TextMessage(text="使用目的をお選びください。"))
        turn.claim = True
        with pytest.raises(RuntimeError if failure == "store" else DomainError):
            await talk.finish(conn, turn)
        assert await written(EventStore(pool), conn, "U1") == []
        assert await talk.begin(conn, envelope, intent) == Turn(intent, envelope, before)


async def test_the_consumers_handler_begins_responds_and_finishes_a_turn(pool: Pool) -> None:
    store = EventStore(pool)
    talk = conversation(store)
    envelope, _intent = intent_envelope()
    seen: list[str | None] = []

    async def respond(turn: Turn[Step, Add], conn: Connection) -> None:
        seen.append(turn.intent.text)
        assert turn.postback is None  # typed text, not a tap
        turn.say(TextMessage(text="承りました。"))

    async with pool.acquire() as conn:
        await talk.handler(respond)(envelope, conn)
        events = await written(store, conn, "U1")
    assert seen == ["2通"]
    assert [type(e) for e in events] == [OutboundMessageRequested, DialogReleased]


async def test_a_batch_of_turns_shares_one_session_read_and_one_write(pool: Pool) -> None:
    store = EventStore(pool)
    talk = conversation(store)
    request = uuid.uuid4()
    first, _ = intent_envelope("U1")
    second, _ = intent_envelope("U1")
    other, _ = intent_envelope("U2")
    sessions_seen: list[tuple[str, Step | None]] = []

    async def respond(turn: Turn[Step, Add], conn: Connection) -> None:
        sessions_seen.append((turn.intent.user_id, turn.session))
        if turn.intent.user_id == "U2":
            turn.session = None  # ends U2's dialog
            turn.say(TextMessage(text="終了しました。"))
            return
        awaiting = "purpose" if turn.session is None else "done"
        turn.session = Step(request, awaiting)
        turn.command("counter-1", Add(1))
        turn.say(TextMessage(text=f"{awaiting}をお選びください。"))
        turn.claim = True

    async with pool.acquire() as conn:
        await talk.sessions.save(conn, "U2", Step(uuid.uuid4(), "copies"), now=NOW)  # type: ignore[union-attr]
        async with conn.transaction():
            await talk.batch_handler(respond)([first, other, second], conn)
        events = await written(store, conn, "U1")
        replies_to_u2 = [
            e for e in await written(store, conn, "U2") if isinstance(e, OutboundMessageRequested)
        ]
        kept = await talk.sessions.load(conn, "U1")  # type: ignore[union-attr]
        ended = await talk.sessions.load(conn, "U2")  # type: ignore[union-attr]
    assert sessions_seen[0] == ("U1", None) and sessions_seen[2] == ("U1", Step(request, "purpose"))
    assert sessions_seen[1][0] == "U2" and sessions_seen[1][1] is not None
    assert kept == Step(request, "done") and ended is None
    texts = [e.messages[0]["text"] for e in events if isinstance(e, OutboundMessageRequested)]
    assert texts == ["purposeをお選びください。", "doneをお選びください。"]
    assert [type(e) for e in events if isinstance(e, DialogClaimed)] == [DialogClaimed, DialogClaimed]
    assert [e.messages[0]["text"] for e in replies_to_u2] == ["終了しました。"]
    counter = await store.read_stream("counter-1")
    assert len(counter) == 2


async def test_send_pushes_or_replies_once_per_key(pool: Pool) -> None:
    store = EventStore(pool)
    talk = conversation(store)
    envelope, intent = intent_envelope()
    async with pool.acquire() as conn:
        for _ in range(2):  # the same key twice: one message
            await talk.send(conn, "U1", [TextMessage(text="回答です。")], key="answer-1", caused_by=envelope)
        await talk.send(
            conn, "U1", [TextMessage(text="返信")], key="reply-1", caused_by=envelope, reply_to=intent
        )
        sent = [e for e in await written(store, conn, "U1") if isinstance(e, OutboundMessageRequested)]
    assert [(m.messages[0]["text"], m.reply_token) for m in sent] == [("回答です。", None), ("返信", "token")]


async def test_sealed_text_is_a_token_and_a_forgotten_resident_is_told_and_released(pool: Pool) -> None:
    personal = PersonalData(pool)
    envelope, intent = intent_envelope()
    async with pool.acquire() as conn:
        turn: Turn[Step, Add] = Turn(intent, envelope, Step(uuid.uuid4(), "text"))
        sealed = await seal_text(turn, personal, conn, forgotten=[TextMessage(text="消去済みです。")])
        assert sealed is not None and "2通" not in sealed
        assert await personal.decrypt(sealed, conn=conn) == "2通" and turn.replies == []
        await personal.forget("U1", conn=conn)
        assert await seal_text(turn, personal, conn, forgotten=[TextMessage(text="消去済みです。")]) is None
        assert turn.session is None and turn.replies == [TextMessage(text="消去済みです。")]
