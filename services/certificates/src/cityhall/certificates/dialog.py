"""The LINE conversation for certificates: resident intents in, commands and replies out.

One call per intent, inside the consumer's transaction: it reads where the resident is in the
dialog (`dialog_sessions`), turns the answer into a command on the request's stream, stores
the reply as an `OutboundMessageRequested` in the service's own store (the outbox), and claims
or releases the resident's dialog at the gateway (`line.dialogs`). Nothing here talks to LINE
except the photo download through the SDK's blob API, and nothing talks to another service
except the payment provider behind its port.

Steps of a request: certificate → its options → copies → purpose → name → date of birth →
address (postal code, then 番地・建物名) → phone → what the certificate also asks (the
印鑑登録証 number) → identity document → its photo → summary
(内容を確認する / 確定 / 修正 / 中止) → payment link.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import parse_qs

from linebot.v3.messaging import Message

from cityhall.certificates import messages as say
from cityhall.certificates.answers import (
    BadAnswer,
    Locality,
    normalise,
    parse_birth_date,
    parse_copies,
    parse_name,
    parse_phone,
    parse_postal_code,
    parse_seal_number,
    parse_street,
)
from cityhall.certificates.catalogue import Catalogue
from cityhall.certificates.domain import Request
from cityhall.certificates.events import (
    SOURCE,
    AttachPhoto,
    Cancel,
    ChooseCopies,
    ChooseIdDocument,
    ChooseOption,
    ChoosePurpose,
    Command,
    GiveDetail,
    RetryPayment,
    Start,
    Submit,
    request_stream,
)
from cityhall.certificates.payments import PaymentProvider, ProviderError
from cityhall.certificates.photos import Downloader, PhotoRefused, PhotoStore
from cityhall.certificates.projections import resident_request_ids
from cityhall.certificates.resident import ResidentLinks
from cityhall.events.db import Connection
from cityhall.events.decider import CommandHandler, Decision, DomainError
from cityhall.events.envelope import Envelope
from cityhall.events.personal import PersonalData
from cityhall.events.store import EventStore
from cityhall.line.contracts import (
    DialogClaimed,
    DialogLeft,
    DialogReleased,
    ResidentIntent,
    dialog_event,
    outbound_message,
)
from cityhall.line.japanese import jst

log = logging.getLogger(__name__)

DOMAIN = "certificates"
STREET = "address:"
"""The step after the postal code: `address:<the postal code, encrypted>`."""
ABORT_WORDS = {"中止", "やめる", "キャンセル", "中断"}
STATUS_WORDS = {"申請状況", "状況"}


@dataclass
class Session:
    request_id: uuid.UUID
    awaiting: str
    editing: bool = False


@dataclass(frozen=True)
class DialogSettings:
    payment_timeout: timedelta = timedelta(minutes=30)
    return_url: str = "https://line.me/R/"
    """Where the checkout page sends the resident back to."""


@dataclass
class Turn:
    """One intent's handling: what to reply, and what becomes of the resident's dialog."""

    intent: ResidentIntent
    envelope: Envelope
    conn: Connection
    session: Session | None
    replies: list[Message] = field(default_factory=list)
    claim: bool = False

    def say(self, *messages: Message) -> None:
        self.replies.extend(messages)


def postback_params(data: str | None) -> dict[str, str]:
    try:
        parsed = parse_qs(data or "", keep_blank_values=True, max_num_fields=20)
    except ValueError:
        return {}
    return {k: v[0] for k, v in parsed.items() if len(v) == 1}


def _request_id(params: dict[str, str]) -> uuid.UUID | None:
    try:
        return uuid.UUID(hex=params.get("r", ""))
    except ValueError:
        return None


class Dialog:
    def __init__(
        self,
        *,
        catalogue: Catalogue,
        store: EventStore,
        requests: CommandHandler[Command, Request],
        personal: PersonalData,
        photos: PhotoStore,
        content: Downloader,
        provider: PaymentProvider,
        links: ResidentLinks,
        clock: Callable[[], datetime],
        settings: DialogSettings | None = None,
    ) -> None:
        self.links = links
        self.catalogue = catalogue
        self.store = store
        self.requests = requests
        self.personal = personal
        self.photos = photos
        self.content = content
        self.provider = provider
        self.clock = clock
        self.settings = settings or DialogSettings()

    # --- the consumer's handler ------------------------------------------------------------

    async def on_intent(self, envelope: Envelope, conn: Connection) -> None:
        if envelope.type == DialogLeft.TYPE:
            await self._left(envelope, conn)
            return
        if envelope.type != ResidentIntent.TYPE:
            return
        intent = envelope.event()
        assert isinstance(intent, ResidentIntent)
        if intent.kind in ("follow", "unfollow"):
            return  # notify keeps the friend registry; a blocked resident's draft simply expires
        turn = Turn(intent, envelope, conn, await self._load_session(conn, intent.user_id))
        try:
            if intent.kind == "postback":
                await self._postback(turn, postback_params(intent.postback_data))
            elif intent.kind == "text":
                await self._text(turn, intent.text or "")
            elif intent.kind == "image":
                await self._image(turn)
            elif turn.session is not None:
                turn.say(say.use_buttons())
                await self._prompt(turn, turn.session)
            else:
                turn.say(say.not_in_progress())
        except DomainError as exc:
            # The request moved on meanwhile (it expired, or was cancelled from another device):
            # say so instead of failing the message.
            log.info("intent %s for %s refused: %s", envelope.id, intent.user_id, exc.reason)
            turn.replies = [say.request_closed()]
            turn.session = None
        await self._finish(turn)

    async def _finish(self, turn: Turn) -> None:
        user = turn.intent.user_id
        if turn.session is None:
            await turn.conn.execute("DELETE FROM dialog_sessions WHERE user_id = $1", user)
        else:
            await turn.conn.execute(
                """INSERT INTO dialog_sessions (user_id, request_id, awaiting, editing, updated_at)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (user_id) DO UPDATE SET request_id = excluded.request_id,
                       awaiting = excluded.awaiting, editing = excluded.editing, updated_at = excluded.updated_at""",
                user,
                turn.session.request_id,
                turn.session.awaiting,
                turn.session.editing,
                self.clock(),
            )
        out: list[Envelope] = []
        if turn.replies:
            out.append(
                outbound_message(
                    to=user,
                    messages=turn.replies[:5],
                    source=SOURCE,
                    idempotency_key=f"certificates:{turn.intent.webhook_event_id}",
                    reply_to=turn.intent,
                    caused_by=turn.envelope,
                )
            )
        if turn.claim and turn.session is not None:
            out.append(
                dialog_event(
                    DialogClaimed(user_id=user, domain=DOMAIN), source=SOURCE, caused_by=turn.envelope
                )
            )
        elif turn.session is None:
            # Free text goes back to the guide: this resident has no request being written.
            out.append(
                dialog_event(
                    DialogReleased(user_id=user, domain=DOMAIN), source=SOURCE, caused_by=turn.envelope
                )
            )
        for envelope in out:
            await self.store.append(envelope.subject, None, [envelope], conn=turn.conn)

    async def _left(self, envelope: Envelope, conn: Connection) -> None:
        """The resident tapped another domain's tile mid-request: the draft stays, say how to go on."""
        left = envelope.event()
        assert isinstance(left, DialogLeft)
        if await self._load_session(conn, left.user_id) is None:
            return  # nothing unfinished
        # A push: the postback's reply token belongs to the domain the resident went to.
        notice = outbound_message(
            to=left.user_id,
            messages=[say.draft_kept()],
            source=SOURCE,
            idempotency_key=f"certificates:left:{left.webhook_event_id}",
            caused_by=envelope,
        )
        await self.store.append(notice.subject, None, [notice], conn=conn)

    @staticmethod
    async def _load_session(conn: Connection, user_id: str) -> Session | None:
        row = await conn.fetchrow(
            "SELECT request_id, awaiting, editing FROM dialog_sessions WHERE user_id = $1 FOR UPDATE", user_id
        )
        return Session(row["request_id"], row["awaiting"], row["editing"]) if row else None

    # --- commands --------------------------------------------------------------------------

    async def _handle(self, turn: Turn, request_id: uuid.UUID, command: Command) -> Decision[Request]:
        return await self.requests.handle(
            request_stream(request_id), command, caused_by=turn.envelope, conn=turn.conn
        )

    async def _state(self, turn: Turn, request_id: uuid.UUID) -> Request:
        state, _version = await self.requests.load(request_stream(request_id), conn=turn.conn)
        return state

    def _now(self) -> datetime:
        return self.clock()

    def _today(self) -> date:
        return jst(self.clock()).date()

    # --- steps -----------------------------------------------------------------------------

    @staticmethod
    def _next_step(state: Request) -> str:
        missing = state.missing()
        return missing[0] if missing else "confirm"

    def _after(self, state: Request, session: Session, answered: str) -> Session:
        """Where the dialog goes after `answered` was given."""
        if session.editing and answered == session.awaiting:
            if answered.startswith("option:"):
                keys = list(state.option_keys)
                index = keys.index(answered.removeprefix("option:"))
                if index + 1 < len(keys):
                    return Session(session.request_id, f"option:{keys[index + 1]}", editing=True)
            if answered == "id_document":
                return Session(session.request_id, "photo", editing=True)
        return Session(session.request_id, self._next_step(state))

    async def _prompt(self, turn: Turn, session: Session, state: Request | None = None) -> None:
        state = state or await self._state(turn, session.request_id)
        step, rid = session.awaiting, session.request_id
        cert = self.catalogue.certificate(state.certificate_code)
        if step.startswith("option:"):
            option = cert.option(step.removeprefix("option:")) if cert else None
            if option is None:
                # The catalogue changed under a draft: start again rather than guess.
                await self._handle(turn, rid, Cancel(at=self._now()))
                turn.session = None
                turn.say(
                    say.invalid(
                        "申し訳ありません。証明書の内容が変更されたため、お手数ですが最初からお申し込みください。"
                    )
                )
                return
            turn.say(say.ask_option(rid, option))
        elif step == "copies":
            turn.say(say.ask_copies(rid))
        elif step == "purpose":
            turn.say(say.ask_purpose(rid, self.catalogue.purposes))
        elif step == "name":
            turn.say(say.ask_name(bool(cert and cert.registrant_only)))
        elif step == "seal_number":
            turn.say(say.ask_seal_number())
        elif step == "birth_date":
            turn.say(say.ask_birth_date(rid, self._today()))
        elif step == "address":
            turn.say(say.ask_postal_code())
        elif step.startswith(STREET):
            turn.say(say.ask_street(rid, await self._locality(turn, step)))
        elif step == "phone":
            turn.say(say.ask_phone())
        elif step == "id_document":
            turn.say(say.ask_id_document(rid, self.catalogue.id_documents))
        elif step == "photo":
            turn.say(say.ask_photo(state.id_document_label or "本人確認書類"))
        elif step == "edit":
            turn.say(say.edit_menu(state))
        else:
            turn.say(*await self._summary(turn, state))

    async def _summary(self, turn: Turn, state: Request) -> list[Message]:
        masked = {
            name: say.mask(name, await self.personal.decrypt(token, conn=turn.conn))
            for name, token in state.details.items()
        }
        cert = self.catalogue.certificate(state.certificate_code)
        names = {o.key: o.label for o in cert.options} if cert else {}
        assert state.request_id is not None
        review = self.links.review_url(state.request_id, state.user_id)
        return say.summary(say.SummaryView(state, masked, names, review))

    async def _advance(
        self, turn: Turn, session: Session, answered: str, decision: Decision[Request]
    ) -> None:
        turn.session = self._after(decision.state, session, answered)
        await self._prompt(turn, turn.session, decision.state)

    # --- postbacks -------------------------------------------------------------------------

    async def _postback(self, turn: Turn, params: dict[str, str]) -> None:
        action = params.get("action", "")
        if action == "menu":
            turn.say(*say.menu(self.catalogue, draft=turn.session is not None))
        elif action == "start":
            await self._start(turn, params.get("c", ""))
        elif action == "resume":
            if turn.session is None:
                turn.say(say.not_in_progress())
            else:
                await self._prompt(turn, turn.session)
        elif action == "status":
            await self._status(turn)
        elif action in ("cancel", "cancelyes", "pay"):
            await self._about_request(turn, action, _request_id(params))
        else:
            await self._draft_postback(turn, action, params)

    async def _start(self, turn: Turn, code: str) -> None:
        cert = self.catalogue.certificate(code)
        if cert is None:
            turn.say(say.invalid("申し訳ありません。その証明書はただいま受け付けていません。"))
            turn.say(*say.menu(self.catalogue, draft=turn.session is not None))
            return
        if turn.session is not None:
            # One request is written at a time: a new start replaces the unfinished one.
            with contextlib.suppress(DomainError):
                await self._handle(turn, turn.session.request_id, Cancel(at=self._now()))
        request_id = uuid.uuid5(turn.envelope.id, "request")
        decision = await self._handle(
            turn,
            request_id,
            Start(
                request_id=request_id,
                user_id=turn.intent.user_id,
                certificate_code=cert.code,
                certificate_name=cert.name,
                fee=cert.fee,
                postage=cert.postage,
                option_keys=tuple(o.key for o in cert.options),
                extra_fields=tuple(cert.asks),
                at=self._now(),
            ),
        )
        turn.claim = True
        turn.session = Session(request_id, self._next_step(decision.state))
        turn.say(say.started(cert))
        await self._prompt(turn, turn.session, decision.state)

    async def _draft_postback(self, turn: Turn, action: str, params: dict[str, str]) -> None:
        """Answers and buttons that belong to the request being written."""
        request_id = _request_id(params)
        if request_id is None:
            turn.say(say.not_in_progress() if turn.session is None else say.stale_button())
            return
        session = turn.session
        if session is None or session.request_id != request_id:
            state = await self._state(turn, request_id)
            if state.user_id != turn.intent.user_id:
                turn.say(say.stale_button())
                return
            if action == "confirm" and state.status != "drafting":
                turn.say(say.already_submitted(state))  # 確定 tapped again: still one request
                return
            if state.status != "drafting":
                turn.say(say.stale_button())
                return
            session = Session(request_id, self._next_step(state))
            turn.session = session
        match action:
            case "option":
                await self._option(turn, session, params.get("k", ""), params.get("v", ""))
            case "copies":
                await self._copies(turn, session, params.get("n", ""))
            case "purpose":
                purpose = self.catalogue.purpose(params.get("p", ""))
                if purpose is None:
                    await self._reask(turn, session)
                    return
                decision = await self._handle(
                    turn, request_id, ChoosePurpose(code=purpose.code, label=purpose.label, at=self._now())
                )
                await self._advance(turn, session, "purpose", decision)
            case "dob":
                picked = (turn.intent.postback_params or {}).get("date", "")
                await self._detail(turn, session, "birth_date", picked)
            case "doc":
                document = self.catalogue.id_document(params.get("d", ""))
                if document is None:
                    await self._reask(turn, session)
                    return
                decision = await self._handle(
                    turn,
                    request_id,
                    ChooseIdDocument(code=document.code, label=document.label, at=self._now()),
                )
                await self._advance(turn, session, "id_document", decision)
            case "confirm":
                await self._confirm(turn, session)
            case "edit":
                turn.session = Session(request_id, "edit")
                await self._prompt(turn, turn.session)
            case "postal":
                turn.session = Session(request_id, "address", session.editing)
                await self._prompt(turn, turn.session)
            case "editfield":
                await self._edit_field(turn, session, params.get("f", ""))
            case "abort":
                await self._abort(turn, session)
            case _:
                turn.say(say.stale_button())

    async def _reask(self, turn: Turn, session: Session) -> None:
        turn.say(say.use_buttons())
        await self._prompt(turn, session)

    async def _option(self, turn: Turn, session: Session, key: str, value: str) -> None:
        state = await self._state(turn, session.request_id)
        cert = self.catalogue.certificate(state.certificate_code)
        option = cert.option(key) if cert else None
        choice = option.choice(value) if option else None
        if choice is None or key not in state.option_keys:
            await self._reask(turn, session)
            return
        decision = await self._handle(
            turn,
            session.request_id,
            ChooseOption(key=key, value=choice.value, label=choice.label, at=self._now()),
        )
        await self._advance(turn, session, f"option:{key}", decision)

    async def _copies(self, turn: Turn, session: Session, text: str) -> None:
        try:
            copies = parse_copies(text)
        except BadAnswer as exc:
            turn.say(say.invalid(str(exc)))
            turn.session = Session(
                session.request_id, "copies", session.editing and session.awaiting == "copies"
            )
            await self._prompt(turn, turn.session)
            return
        decision = await self._handle(turn, session.request_id, ChooseCopies(copies=copies, at=self._now()))
        await self._advance(turn, session, "copies", decision)

    async def _detail(self, turn: Turn, session: Session, name: str, text: str) -> None:
        """A personal field: checked, then encrypted with the resident's key before it enters an event."""
        try:
            match name:
                case "name":
                    value = parse_name(text)
                case "birth_date":
                    value = parse_birth_date(text, self._today()).isoformat()
                case "seal_number":
                    value = parse_seal_number(text)
                case "address":
                    locality = await self._locality(turn, session.awaiting)
                    value = locality.address(parse_street(text, locality))
                case _:
                    value = parse_phone(text)
        except BadAnswer as exc:
            turn.say(say.invalid(str(exc)))
            if name == "birth_date":
                turn.say(say.ask_birth_date(session.request_id, self._today()))
            return
        token = await self.personal.encrypt(turn.intent.user_id, value, conn=turn.conn)
        decision = await self._handle(
            turn, session.request_id, GiveDetail(field=name, value=token, at=self._now())
        )
        await self._advance(turn, session, name, decision)

    async def _postal_code(self, turn: Turn, session: Session, text: str) -> None:
        """The postal code fills the prefecture and town; it waits, encrypted, in the session for the rest."""
        try:
            locality = parse_postal_code(text)
        except BadAnswer as exc:
            turn.say(say.invalid(str(exc)))
            return
        token = await self.personal.encrypt(turn.intent.user_id, locality.postal_code, conn=turn.conn)
        turn.session = Session(session.request_id, STREET + token, session.editing)
        turn.say(say.ask_street(session.request_id, locality))

    async def _locality(self, turn: Turn, step: str) -> Locality:
        code = await self.personal.decrypt(step.removeprefix(STREET), conn=turn.conn)
        return parse_postal_code(code)

    async def _edit_field(self, turn: Turn, session: Session, name: str) -> None:
        state = await self._state(turn, session.request_id)
        if name == "options" and state.option_keys:
            step = f"option:{state.option_keys[0]}"
        elif name == "photo":
            step = "id_document"
        elif name in ("copies", "purpose", *say.personal_fields(state)):
            step = name
        else:
            await self._reask(turn, session)
            return
        turn.session = Session(session.request_id, step, editing=True)
        await self._prompt(turn, turn.session, state)

    async def _abort(self, turn: Turn, session: Session) -> None:
        try:
            await self._handle(turn, session.request_id, Cancel(at=self._now()))
        except DomainError as exc:
            log.info("abort of %s refused: %s", session.request_id, exc.reason)
        turn.session = None
        turn.say(say.aborted())

    async def _confirm(self, turn: Turn, session: Session) -> None:
        """確定: open a checkout for the total and submit. A second 確定 finds the request submitted."""
        state = await self._state(turn, session.request_id)
        if state.status != "drafting":
            turn.say(say.already_submitted(state))
            return
        if state.missing():
            turn.session = Session(session.request_id, self._next_step(state))
            await self._prompt(turn, turn.session, state)
            return
        try:
            checkout = await self.provider.create_checkout(
                session.request_id, state.total, self.settings.return_url, attempt=1
            )
        except ProviderError as exc:
            log.warning("no checkout for %s: %s", session.request_id, exc)
            turn.say(say.checkout_unavailable())
            turn.session = Session(session.request_id, "confirm")
            return
        now = self._now()
        deadline = now + self.settings.payment_timeout
        try:
            decision = await self._handle(
                turn,
                session.request_id,
                Submit(
                    amount=state.total,
                    checkout_id=checkout.checkout_id,
                    checkout_url=checkout.url,
                    at=now,
                    expires_at=deadline,
                ),
            )
        except DomainError as exc:
            if exc.reason == "already_submitted":
                turn.say(say.already_submitted(await self._state(turn, session.request_id)))
                turn.session = None
                return
            raise
        turn.session = None  # the rest happens through buttons and links, not free text
        turn.say(*say.payment_link(decision.state, self._pay_url(decision.state), deadline))

    # --- free text and photos --------------------------------------------------------------

    async def _text(self, turn: Turn, text: str) -> None:
        words = normalise(text)
        if words in STATUS_WORDS:
            await self._status(turn)
            return
        session = turn.session
        if session is None:
            turn.say(say.not_in_progress())
            return
        if words in ABORT_WORDS:
            await self._abort(turn, session)
            return
        if words == say.REVIEW_LABEL and session.awaiting == "confirm":
            await self._prompt(turn, session)  # a fresh 内容を確認する link (the last one expired)
            return
        if await self._typed_button(turn, session, words):
            return
        step = session.awaiting
        if step == "address":
            await self._postal_code(turn, session, text)
        elif step.startswith(STREET):
            await self._detail(turn, session, "address", text)
        elif step in ("name", "birth_date", "phone", "seal_number"):
            await self._detail(turn, session, step, text)
        elif step == "copies":
            await self._copies(turn, session, text)
        elif step == "photo":
            turn.say(say.invalid("本人確認書類の写真を送ってください。"))
            await self._prompt(turn, session)
        else:
            await self._reask(turn, session)

    async def _typed_button(self, turn: Turn, session: Session, words: str) -> bool:
        """A typed label of a button the resident's current step shows counts as tapping it."""
        shown = Turn(turn.intent, turn.envelope, turn.conn, session)
        await self._prompt(shown, session)
        if shown.session is None:  # the step could not be shown (the draft was closed): say so
            turn.session, turn.replies = None, shown.replies
            return True
        for button in say.postback_buttons(shown.replies):
            if words in (normalise(button.label), normalise(button.display_text)):
                await self._postback(turn, postback_params(button.data))
                return True
        return False

    async def _image(self, turn: Turn) -> None:
        session = turn.session
        if session is None or session.awaiting != "photo":
            turn.say(say.not_expecting_photo())
            if session is not None:
                await self._prompt(turn, session)
            return
        message_id = turn.intent.message_id
        try:
            if not message_id:
                raise PhotoRefused("unavailable")
            data = await self.content.download(message_id)
            state = await self._state(turn, session.request_id)
            photo = await self.photos.put(
                turn.conn,
                user_id=turn.intent.user_id,
                request_id=session.request_id,
                data=data,
                photo_id=uuid.uuid5(turn.envelope.id, "photo"),
            )
        except PhotoRefused as exc:
            turn.say(say.photo_refused(exc.reason))
            await self._prompt(turn, session)
            return
        decision = await self._handle(
            turn,
            session.request_id,
            AttachPhoto(
                photo_id=photo.photo_id, content_type=photo.content_type, size=photo.size, at=self._now()
            ),
        )
        if state.photo_id is not None and state.photo_id != photo.photo_id:
            await self.photos.delete(turn.conn, state.photo_id)  # replaced before anyone looked at it
        turn.say(say.photo_received())
        await self._advance(turn, session, "photo", decision)

    # --- 申請状況, cancelling, paying ------------------------------------------------------

    async def _status(self, turn: Turn) -> None:
        ids = await resident_request_ids(turn.conn, turn.intent.user_id, limit=10)
        items = []
        for request_id, updated_at in ids:
            state = await self._state(turn, request_id)
            if state.status == "new":
                continue
            items.append(
                say.StatusItem(
                    request_id=request_id,
                    number=state.number,
                    certificate_name=state.certificate_name,
                    copies=state.copies,
                    status=state.status,
                    amount=state.amount or (state.total if state.copies else 0),
                    updated_at=updated_at,
                    tracking_number=state.tracking_number or None,
                )
            )
        turn.say(*say.status_list(items))

    async def _about_request(self, turn: Turn, action: str, request_id: uuid.UUID | None) -> None:
        state = await self._state(turn, request_id) if request_id else Request()
        if request_id is None or state.user_id != turn.intent.user_id:
            turn.say(say.stale_button())
            return
        if action == "cancel":
            if state.status in say.CANCELLABLE:
                turn.say(say.confirm_cancel(state))
            else:
                turn.say(say.cannot_cancel(state))
        elif action == "cancelyes":
            await self._cancel(turn, request_id, state)
        else:
            await self._pay(turn, request_id, state)

    async def _cancel(self, turn: Turn, request_id: uuid.UUID, state: Request) -> None:
        try:
            decision = await self._handle(turn, request_id, Cancel(at=self._now()))
        except DomainError as exc:
            if exc.reason == "already_issued":
                turn.say(say.cannot_cancel(state))
            else:
                turn.say(say.invalid(f"受付番号 {state.number} の申請は、すでに終了しています。"))
            return
        if turn.session is not None and turn.session.request_id == request_id:
            turn.session = None
        refund = decision.state.refunds_pending.get(state.payment_id or "")
        turn.say(say.cancelled(decision.state, refund))

    async def _pay(self, turn: Turn, request_id: uuid.UUID, state: Request) -> None:
        assert state.payment_deadline is not None or state.status not in ("payment_pending", "payment_failed")
        if state.status == "payment_pending":
            assert state.payment_deadline is not None
            turn.say(*say.payment_link(state, self._pay_url(state), state.payment_deadline, "reminder"))
            return
        if state.status != "payment_failed":
            turn.say(say.no_payment_needed(state))
            return
        try:
            checkout = await self.provider.create_checkout(
                request_id, state.amount, self.settings.return_url, attempt=len(state.checkouts) + 1
            )
        except ProviderError as exc:
            log.warning("no checkout for %s: %s", request_id, exc)
            turn.say(say.checkout_unavailable())
            return
        try:
            decision = await self._handle(
                turn,
                request_id,
                RetryPayment(checkout_id=checkout.checkout_id, checkout_url=checkout.url, at=self._now()),
            )
        except DomainError:
            turn.say(say.no_payment_needed(await self._state(turn, request_id)))
            return
        assert decision.state.payment_deadline is not None
        turn.say(
            *say.payment_link(
                decision.state, self._pay_url(decision.state), decision.state.payment_deadline, "renewed"
            )
        )

    def _pay_url(self, state: Request) -> str:
        """The 支払う button leads through the town's server to whichever checkout is current."""
        assert state.request_id is not None
        return self.links.pay_url(state.request_id, state.user_id)
