"""A domain's side of the conversation: its dialog sessions and the turn that answers an intent.

- `SessionStore`: where each resident is in the domain's dialog, one row per resident in the
  service's own table (columns: `user_id`, the session dataclass's fields, `updated_at`).
- `Turn`: what one intent produced: replies, commands, the session after it, and whether the
  resident's free text now belongs to the domain (claim) or goes back to the guide (release).
- `Conversation.finish`: writes a turn through the service's outbox (its `EventStore`) in one
  transaction: the commands, the session, the reply (`OutboundMessageRequested`) and the
  `DialogClaimed` / `DialogReleased` for the gateway. If any of it fails, none of it is written.

A dialog itself stays pure, `(session, intent) -> (session', commands, replies)`, and its
handler does the I/O (downloads, checkouts, reading state) around it:
`Conversation.handler(respond)` is the consumer's handler that begins the turn, lets
`respond(turn, conn)` fetch and fill it, and finishes it; `Conversation.batch_handler(respond)`
does the same for a batched consumer's many intents, reading and writing their sessions and
replies once for all of them. `Conversation.send` is any other
message to a resident (a clerk's answer, a notice) through the same outbox.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from linebot.v3.messaging import Message

from cityhall.events.db import Connection
from cityhall.events.decider import CommandHandler
from cityhall.events.envelope import Envelope
from cityhall.events.personal import PersonalData, SubjectForgotten
from cityhall.events.store import EventStore
from cityhall.line import build, postback
from cityhall.line.contracts import (
    DialogClaimed,
    DialogReleased,
    ResidentIntent,
    dialog_event,
    outbound_message,
)

IDLE = timedelta(minutes=30)
"""How long a resident's dialog with a domain lasts without a message (the gateway's routing)."""
COULD_NOT_HANDLE = "申し訳ありません。ただいま処理できませんでした。しばらくしてからもう一度お試しください。"
"""What a resident is told when their message could not be handled at all (dead-lettered)."""
MAX_REPLIES = 5
"""Messages in one LINE reply."""

S = TypeVar("S")
C = TypeVar("C")

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?$")


def intent_of(envelope: Envelope) -> ResidentIntent | None:
    """The resident's intent an envelope carries; None for other types on the intents topic."""
    if envelope.type != ResidentIntent.TYPE:
        return None
    intent = envelope.event()
    if not isinstance(intent, ResidentIntent):
        raise TypeError(f"{envelope.type} did not load as a ResidentIntent")
    return intent


class SessionStore(Generic[S]):
    """Dialog sessions of type `S` (a dataclass) in `table`; reads lock the row until commit.

    With `idle`, a session not written for that long reads as none (the resident starts over).
    """

    def __init__(self, table: str, session: type[S], *, idle: timedelta | None = None) -> None:
        if not _NAME.match(table):
            raise ValueError(f"{table!r} is not a table name")
        if not dataclasses.is_dataclass(session):
            raise TypeError(f"{session!r} is not a dataclass")
        columns = [f.name for f in dataclasses.fields(session)]
        bad = [c for c in columns if not _NAME.match(c) or "." in c or c in ("user_id", "updated_at")]
        if bad:
            raise ValueError(f"{bad} cannot be columns of {table}")
        self.table, self.session, self.idle, self.columns = table, session, idle, columns
        values = ", ".join(f"${i}" for i in range(2, len(columns) + 3))
        updates = ", ".join(f"{c} = excluded.{c}" for c in [*columns, "updated_at"])
        self._select = (
            f"SELECT user_id, {', '.join(columns)}, updated_at FROM {table} "
            "WHERE user_id = ANY($1::text[]) ORDER BY user_id FOR UPDATE"
        )
        self._upsert = (
            f"INSERT INTO {table} (user_id, {', '.join(columns)}, updated_at) VALUES ($1, {values}) "
            f"ON CONFLICT (user_id) DO UPDATE SET {updates}"
        )
        self._delete = f"DELETE FROM {table} WHERE user_id = ANY($1::text[])"

    async def load(self, conn: Connection, user_id: str, *, now: datetime | None = None) -> S | None:
        return (await self.load_many(conn, [user_id], now=now)).get(user_id)

    async def load_many(
        self, conn: Connection, user_ids: Sequence[str], *, now: datetime | None = None
    ) -> dict[str, S]:
        """The sessions of `user_ids` that there are, in one statement (rows locked in one order,
        so that two transactions loading overlapping residents cannot deadlock)."""
        cutoff = None
        if self.idle is not None:
            if now is None:
                raise ValueError("a store with an idle timeout needs `now` to load")
            cutoff = now - self.idle
        found: dict[str, S] = {}
        for row in await conn.fetch(self._select, sorted(set(user_ids))):
            if cutoff is None or row["updated_at"] > cutoff:
                found[row["user_id"]] = self.session(**{c: row[c] for c in self.columns})
        return found

    async def save(self, conn: Connection, user_id: str, session: S | None, *, now: datetime) -> None:
        """Write the resident's session; None ends it."""
        await self.save_many(conn, {user_id: session}, now=now)

    async def save_many(self, conn: Connection, sessions: Mapping[str, S | None], *, now: datetime) -> None:
        """Write each resident's session (None ends it): a round trip for those ended, one for the others."""
        ended = [user_id for user_id, session in sessions.items() if session is None]
        kept = [
            (user_id, *[getattr(session, c) for c in self.columns], now)
            for user_id, session in sessions.items()
            if session is not None
        ]
        if ended:
            await conn.execute(self._delete, ended)
        if kept:
            await conn.executemany(self._upsert, kept)

    async def end(self, conn: Connection, user_id: str, **where: Any) -> bool:
        """End the resident's session if its fields equal `where`; True when there was one."""
        unknown = set(where) - set(self.columns)
        if unknown:
            raise ValueError(f"{sorted(unknown)} are not fields of {self.session.__name__}")
        conditions = "".join(f" AND {c} = ${i}" for i, c in enumerate(where, start=2))
        deleted: str = await conn.execute(self._delete + conditions, [user_id], *where.values())
        return deleted.endswith(" 1")


@dataclass
class Turn(Generic[S, C]):
    """One intent's outcome, collected while it is handled and written by `Conversation.finish`."""

    intent: ResidentIntent
    envelope: Envelope
    session: S | None = None
    replies: list[Message] = field(default_factory=list)
    commands: list[tuple[str, C]] = field(default_factory=list)
    claim: bool = False
    """Free text, photos and locations belong to this domain from now on."""
    release: bool = False
    """Hand the resident back to the guide (always, when the session ends)."""

    def say(self, *messages: Message) -> None:
        self.replies.extend(messages)

    def command(self, stream: str, command: C) -> None:
        self.commands.append((stream, command))

    @property
    def postback(self) -> postback.Postback | None:
        """The button the resident tapped, if this intent is a well-formed tap."""
        return postback.decode(self.intent.postback_data) if self.intent.kind == "postback" else None


async def seal_text(
    turn: Turn[Any, Any], personal: PersonalData, conn: Connection, *, forgotten: Sequence[Message]
) -> str | None:
    """The resident's free text sealed with their key, for an event (never clear text in one);
    None when the intent is not text. A resident who asked to be forgotten gets no new key: the
    turn ends their dialog and says `forgotten` instead."""
    if turn.intent.kind != "text" or not turn.intent.text:
        return None
    try:
        return await personal.encrypt(turn.intent.user_id, turn.intent.text, conn=conn)
    except SubjectForgotten:
        turn.session = None
        turn.say(*forgotten)
        return None


class Conversation(Generic[S, C]):
    """Writes turns for `domain` through `store` (the service's outbox)."""

    def __init__(
        self,
        *,
        domain: str,
        source: str,
        store: EventStore,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sessions: SessionStore[S] | None = None,
        commands: CommandHandler[C, Any] | None = None,
    ) -> None:
        self.domain = domain
        self.source = source
        self.store = store
        self.clock = clock
        self.sessions = sessions
        self.commands = commands

    async def begin(self, conn: Connection, envelope: Envelope, intent: ResidentIntent) -> Turn[S, C]:
        """A turn for `intent`, with the resident's session (locked until the transaction ends)."""
        session = None
        if self.sessions is not None:
            session = await self.sessions.load(conn, intent.user_id, now=self.clock())
        return Turn(intent, envelope, session)

    async def finish(self, conn: Connection, turn: Turn[S, C], *, key: str | None = None) -> None:
        """Write everything `turn` produced, or nothing. `key`: the reply's idempotency key
        (default `<domain>:<webhook event id>`)."""
        # In the caller's transaction (the consumer's), a failure rolls the whole of it back: a
        # savepoint is needed only for a refused command, which a caller may answer in the same
        # transaction, and costs two statements a turn otherwise.
        needed = bool(turn.commands) or not conn.is_in_transaction()
        async with conn.transaction() if needed else contextlib.nullcontext():
            await self._run_commands(conn, turn)
            await self._write(conn, [turn], key=key)

    def handler(
        self, respond: Callable[[Turn[S, C], Connection], Awaitable[None]]
    ) -> Callable[[Envelope, Connection], Awaitable[None]]:
        """A consumer's handler for the domain's intents: begin the turn (the resident's session,
        locked), `respond(turn, conn)` (fetch what the pure dialog needs, run it), finish it."""
        answer = self.batch_handler(respond)

        async def on_intent(envelope: Envelope, conn: Connection) -> None:
            await answer([envelope], conn)

        return on_intent

    def batch_handler(
        self, respond: Callable[[Turn[S, C], Connection], Awaitable[None]]
    ) -> Callable[[Sequence[Envelope], Connection], Awaitable[None]]:
        """`handler` for a batched consumer's batch (`handle_batch`), in its order: the sessions
        are read in one statement before the first turn and written with the replies after the
        last, so that a turn costs only what `respond` reads and decides (bench/RESULTS.md, the
        5,000-resident race). A resident's later turn in the batch sees their earlier one's session."""

        async def on_intents(envelopes: Sequence[Envelope], conn: Connection) -> None:
            intents = [(e, intent) for e in envelopes if (intent := intent_of(e)) is not None]
            sessions: dict[str, S | None] = {}
            if self.sessions is not None:
                users = [intent.user_id for _e, intent in intents]
                sessions.update(await self.sessions.load_many(conn, users, now=self.clock()))
            turns = []
            for envelope, intent in intents:
                turn: Turn[S, C] = Turn(intent, envelope, sessions.get(intent.user_id))
                await respond(turn, conn)
                # No savepoint: a refused command fails the consumer's transaction, all of it.
                await self._run_commands(conn, turn)
                sessions[intent.user_id] = turn.session
                turns.append(turn)
            await self._write(conn, turns)

        return on_intents

    async def _run_commands(self, conn: Connection, turn: Turn[S, C]) -> None:
        if not turn.commands:
            return
        if self.commands is None:
            raise TypeError(f"the {self.domain} conversation has no command handler for its turn's commands")
        for stream, command in turn.commands:
            await self.commands.handle(stream, command, caused_by=turn.envelope, conn=conn)

    async def _write(self, conn: Connection, turns: Sequence[Turn[S, C]], *, key: str | None = None) -> None:
        """The turns' sessions (each resident's last), then their replies and `DialogClaimed` /
        `DialogReleased` events in one append. `key`: the reply's idempotency key of a lone turn
        (`finish`); otherwise each reply's is `<domain>:<webhook event id>`."""
        if self.sessions is not None:
            last = {turn.intent.user_id: turn.session for turn in turns}
            await self.sessions.save_many(conn, last, now=self.clock())
        out: list[Envelope] = []
        for turn in turns:
            intent, caused_by = turn.intent, turn.envelope
            if turn.replies:
                reply_key = key or f"{self.domain}:{intent.webhook_event_id}"
                out.append(self._request(intent.user_id, turn.replies, reply_key, caused_by, intent))
            ended = self.sessions is not None and turn.session is None
            if turn.claim and not ended:
                out.append(self._dialog(DialogClaimed(user_id=intent.user_id, domain=self.domain), caused_by))
            elif turn.release or ended:
                out.append(
                    self._dialog(DialogReleased(user_id=intent.user_id, domain=self.domain), caused_by)
                )
        await self.store.append_each(out, conn=conn, notify=True)

    async def send(
        self,
        conn: Connection,
        to: str,
        messages: Sequence[Message],
        *,
        key: str,
        caused_by: Envelope,
        reply_to: ResidentIntent | None = None,
    ) -> None:
        """Send `messages` to the resident `to` through the outbox, in the caller's transaction:
        a reply when `reply_to` is the intent being answered, else a push. `key`: the idempotency
        key (the same key sends once however often it is written)."""
        request = self._request(to, messages, key, caused_by, reply_to)
        await self.store.append(request.subject, None, [request], conn=conn)

    def _request(
        self,
        to: str,
        messages: Sequence[Message],
        key: str,
        caused_by: Envelope,
        reply_to: ResidentIntent | None,
    ) -> Envelope:
        return outbound_message(
            to=to,
            messages=list(messages)[:MAX_REPLIES],
            source=self.source,
            idempotency_key=key,
            reply_to=reply_to,
            caused_by=caused_by,
        )

    async def could_not_handle(self, envelope: Envelope, conn: Connection) -> None:
        """A consumer's `on_dead_letter`: the resident whose intent failed for good is told so
        in plain words instead of being left in silence."""
        intent = intent_of(envelope)
        if intent is None or intent.kind in ("follow", "unfollow"):
            return
        sorry = [build.text(COULD_NOT_HANDLE)]
        key = f"{self.domain}:failed:{intent.webhook_event_id}"
        await self.send(conn, intent.user_id, sorry, key=key, caused_by=envelope, reply_to=intent)

    def _dialog(self, event: DialogClaimed | DialogReleased, caused_by: Envelope) -> Envelope:
        return dialog_event(event, source=self.source, caused_by=caused_by)
