"""What notify does with the messages it consumes (each call runs in the consumer's transaction).

- `line.outbound`: a valid request is queued for the dispatcher; an invalid one is recorded as
  failed at once (retrying cannot fix it).
- `intents.notify`: follow and unfollow update the resident's friend stream (and their row of
  the code table); follow, 使い方 and the 配信設定 dialog are answered through notify's own
  outbound path: an `OutboundMessageRequested` stored with the friend events and preferences,
  relayed to `line.outbound` and delivered like any other.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from cityhall.events.db import Connection
from cityhall.events.decider import CommandHandler
from cityhall.events.envelope import Envelope
from cityhall.events.personal import SubjectForgotten
from cityhall.events.store import EventStore
from cityhall.line.contracts import OutboundMessageRequested
from cityhall.line.dialog import IDLE, Conversation, SessionStore, intent_of
from cityhall.line.japanese import jst
from cityhall.notify import dialog
from cityhall.notify import messages as say
from cityhall.notify.audience import Audience
from cityhall.notify.disaster import Disaster
from cityhall.notify.dispatcher import DeliveryQueue, delivery_stream, parse_messages
from cityhall.notify.domain import Friend, friend_decider, friend_stream
from cityhall.notify.events import SOURCE, FriendCommand, MessageDeliveryFailed
from cityhall.notify.safety import Safety

log = logging.getLogger(__name__)


class Handlers:
    def __init__(self, store: EventStore, queue: DeliveryQueue, safety: Safety) -> None:
        self.safety = safety
        self.disaster = Disaster(store.pool, store, safety)
        self.store = store
        self.queue = queue
        self.friends: CommandHandler[FriendCommand, Friend] = CommandHandler(
            store, friend_decider, source=SOURCE
        )
        self.audience = Audience(store.pool)
        self.conversation: Conversation[dialog.Session, FriendCommand] = Conversation(
            domain=say.DOMAIN,
            source=SOURCE,
            store=store,
            sessions=SessionStore("notify_sessions", dialog.Session, idle=IDLE),
            commands=self.friends,
        )

    async def on_outbound(self, envelope: Envelope, conn: Connection) -> None:
        await self.on_outbound_batch([envelope], conn)

    async def on_outbound_batch(self, envelopes: Sequence[Envelope], conn: Connection) -> None:
        """Valid requests are queued together (one INSERT), in order."""
        valid: list[tuple[Envelope, str]] = []
        for envelope in envelopes:
            if envelope.type != OutboundMessageRequested.TYPE:
                continue  # nothing else travels on line.outbound today
            try:
                request = envelope.event()
                if not isinstance(request, OutboundMessageRequested):
                    raise TypeError(f"{envelope.type} did not load as an OutboundMessageRequested")
                parse_messages(request.messages)
            except (ValidationError, ValueError) as exc:
                await self._refuse(envelope, conn, f"invalid request: {exc}")
                continue
            valid.append((envelope, request.to[0] if len(request.to) == 1 else request.idempotency_key))
        await self.queue.enqueue_all(conn, valid)

    async def _refuse(self, envelope: Envelope, conn: Connection, error: str) -> None:
        data: dict[str, Any] = envelope.data
        to = data.get("to")
        event = MessageDeliveryFailed(
            request_id=envelope.id,
            idempotency_key=str(data.get("idempotency_key", "")),
            requested_by=str(data.get("requested_by", "")),
            method=None,
            status=0,
            error=error[:2000],
            recipients=len(to) if isinstance(to, list) else 0,
        )
        stream = delivery_stream(envelope.id)
        await self.store.append(
            stream,
            None,
            [
                Envelope.wrap(
                    event,
                    source=SOURCE,
                    subject=stream,
                    id=uuid.uuid5(envelope.id, "refused"),
                    caused_by=envelope,
                )
            ],
            conn=conn,
        )

    async def on_intent(self, envelope: Envelope, conn: Connection) -> None:
        intent = intent_of(envelope)
        if intent is None:
            return
        turn = await self.conversation.begin(conn, envelope, intent)
        check = dialog.safety_named(intent, turn.session)
        tile = dialog.disaster_tile(intent)
        if check is not None:
            await self._safety(conn, turn, check)
        elif tile is not None:
            facts = await self.disaster.facts(conn, intent.timestamp)
            turn.session, turn.replies = None, dialog.disaster(tile, facts.check, facts.alerts)
        elif dialog.in_settings(intent, turn.session):
            await self._settings(conn, turn)
        else:
            # A resident who follows in disaster mode sees the disaster menu: the welcome says why.
            disaster = intent.kind == "follow" and (await self.disaster.state(conn)).on
            response = dialog.respond(intent, disaster=disaster)
            turn.session, turn.replies = None, list(response.messages)
            if response.command is not None:
                turn.command(friend_stream(intent.user_id), response.command)
        await self.conversation.finish(conn, turn, key=f"notify:{intent.kind}:{intent.webhook_event_id}")
        if intent.kind in ("follow", "unfollow"):
            friend, _version = await self.friends.load(friend_stream(intent.user_id), conn=conn)
            await self.audience.friend(conn, intent.user_id, reachable=friend.reachable)

    async def _safety(self, conn: Connection, turn: dialog.Turn, check: uuid.UUID) -> None:
        answer = dialog.safety(turn, check, known=await self.safety.known(conn, check))
        if answer is None:
            return
        try:
            await self.safety.record(conn, turn.intent.user_id, answer)
        except SubjectForgotten:
            turn.session, turn.replies = None, list(say.forgotten())

    async def _settings(self, conn: Connection, turn: dialog.Turn) -> None:
        user_id = turn.intent.user_id
        prefs = await self.audience.load(conn, user_id)
        changed = dialog.settings(turn, prefs, jst(turn.intent.timestamp).date())
        if changed is None:
            return
        try:
            await self.audience.save(conn, user_id, changed)
        except SubjectForgotten:
            turn.session, turn.replies = None, list(say.forgotten())
