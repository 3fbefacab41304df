"""The LINE conversation for certificates, as a pure function: it decides, it does no I/O.

`Dialog.decide(session, intent, envelope, facts)` reads where the resident is in the dialog
(`Session`), what they tapped or typed, and what the handler has fetched for this intent
(`Facts`), and returns a `Turn`: the session after it, the commands for the requests' streams
(already checked with the request's decider), the replies, and whether the resident's dialog is
claimed. When it needs something not yet fetched (a request's state, a decrypted or encrypted
field, the downloaded photo, a checkout), it raises `Missing(need)`; the handler
(`handlers.Intents`) fetches it, adds it to the facts and asks again. So a test can call it with
plain values, and the I/O (sessions, downloads, checkouts, the outbox) lives in handlers.

Steps of a request: certificate → its options → copies → purpose → name → date of birth →
address (postal code, then 番地・建物名) → phone → what the certificate also asks (the
印鑑登録証 number) → identity document → its photo → summary
(内容を確認する / 確定 / 修正 / 中止) → payment link.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

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
from cityhall.certificates.domain import Request, certificate_decider, required
from cityhall.certificates.events import (
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
from cityhall.certificates.resident import ResidentLinks
from cityhall.certificates.statuses import CANCELLABLE
from cityhall.events.decider import DomainError
from cityhall.events.envelope import Envelope
from cityhall.line import dialog, postback
from cityhall.line.build import postback_buttons
from cityhall.line.content import Photo, PhotoRefused
from cityhall.line.contracts import ResidentIntent
from cityhall.line.japanese import jst
from cityhall.payment_protocol.port import Checkout, ProviderError

log = logging.getLogger(__name__)

DOMAIN = say.DOMAIN
STREET = "address:"
"""The step after the postal code: `address:<the postal code, encrypted>`."""
ABORT_WORDS = {"中止", "やめる", "キャンセル", "中断"}
STATUS_WORDS = {"申請状況", "状況"}
STATUS_LIMIT = 10
"""Requests the 申請状況 carousel shows, newest first."""


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


# --- what the dialog may need fetched -------------------------------------------------------


@dataclass(frozen=True)
class LoadRequest:
    """The request's state (`Request`)."""

    request_id: uuid.UUID


@dataclass(frozen=True)
class ResidentRequests:
    """The resident's latest requests: `[(request_id, updated_at)]`, newest first."""

    limit: int


@dataclass(frozen=True)
class Decrypt:
    """A personal field in clear (`str`)."""

    token: str


@dataclass(frozen=True)
class Encrypt:
    """The resident's answer sealed with their key (`str`, the token for the event)."""

    value: str = field(repr=False)  # personal data: never in a log line or a traceback


@dataclass(frozen=True)
class StorePhoto:
    """The photo the resident sent, downloaded and stored (`Photo`, or the `PhotoRefused`)."""

    message_id: str
    request_id: uuid.UUID
    photo_id: uuid.UUID


@dataclass(frozen=True)
class OpenCheckout:
    """A checkout at the payment provider (`Checkout`, or the `ProviderError`)."""

    request_id: uuid.UUID
    amount: int
    return_url: str
    attempt: int


Need = LoadRequest | ResidentRequests | Decrypt | Encrypt | StorePhoto | OpenCheckout


class Missing(Exception):
    """The dialog needs `need` fetched before it can decide."""

    def __init__(self, need: Need) -> None:
        super().__init__(need)
        self.need = need


@dataclass
class Facts:
    """What the handler has fetched for one intent, by need, and the moment it is handled."""

    now: datetime
    known: dict[Need, Any] = field(default_factory=dict)

    def get(self, need: Need) -> Any:
        if need not in self.known:
            raise Missing(need)
        return self.known[need]


@dataclass
class Turn(dialog.Turn[Session, Command]):
    facts: Facts = field(kw_only=True)
    states: dict[uuid.UUID, Request] = field(default_factory=dict, kw_only=True)
    """Requests as this turn's commands leave them."""
    discarded_photos: list[uuid.UUID] = field(default_factory=list, kw_only=True)
    """Photos replaced before anyone looked at them: the handler deletes them."""

    @property
    def now(self) -> datetime:
        return self.facts.now

    @property
    def today(self) -> date:
        return jst(self.facts.now).date()


NO_POSTBACK = postback.Postback(DOMAIN)
"""What malformed data is read as: a button of no known action (answered as a stale one)."""


class Dialog:
    def __init__(
        self, *, catalogue: Catalogue, links: ResidentLinks, settings: DialogSettings | None = None
    ) -> None:
        self.catalogue = catalogue
        self.links = links
        self.settings = settings or DialogSettings()

    def decide(
        self, session: Session | None, intent: ResidentIntent, envelope: Envelope, facts: Facts
    ) -> Turn:
        """The turn for `intent`; raises `Missing` until `facts` hold what it needs."""
        turn = Turn(intent, envelope, session, facts=facts)
        try:
            if intent.kind == "postback":
                self._postback(turn, postback.decode(intent.postback_data) or NO_POSTBACK)
            elif intent.kind == "text":
                self._text(turn, intent.text or "")
            elif intent.kind == "image":
                self._image(turn)
            elif turn.session is not None:
                turn.say(say.use_buttons())
                self._prompt(turn, turn.session)
            else:
                turn.say(say.not_in_progress())
        except DomainError as exc:
            # The request moved on meanwhile (it expired, or was cancelled from another device):
            # say so instead of failing the message.
            log.info("intent %s for %s refused: %s", envelope.id, intent.user_id, exc.reason)
            turn.replies = [say.request_closed()]
            turn.session = None
        return turn

    # --- commands and facts ----------------------------------------------------------------

    def _handle(self, turn: Turn, request_id: uuid.UUID, command: Command) -> Request:
        """Decide `command` on the request (raises `DomainError` when refused) and keep it for the
        handler to append; the request's state after it."""
        state = self._state(turn, request_id)
        state = certificate_decider.fold(certificate_decider.decide(command, state), state)
        turn.states[request_id] = state
        turn.command(request_stream(request_id), command)
        return state

    @staticmethod
    def _state(turn: Turn, request_id: uuid.UUID) -> Request:
        if request_id in turn.states:
            return turn.states[request_id]
        state: Request = turn.facts.get(LoadRequest(request_id))
        return state

    @staticmethod
    def _sealed(turn: Turn, value: str) -> str:
        token: str = turn.facts.get(Encrypt(value))
        return token

    @staticmethod
    def _clear(turn: Turn, token: str) -> str:
        value: str = turn.facts.get(Decrypt(token))
        return value

    def _checkout(self, turn: Turn, request_id: uuid.UUID, amount: int, *, attempt: int) -> Checkout | None:
        """The checkout the provider opened, or None when it could not."""
        opened: Checkout | ProviderError = turn.facts.get(
            OpenCheckout(request_id, amount, self.settings.return_url, attempt)
        )
        if isinstance(opened, ProviderError):
            log.warning("no checkout for %s: %s", request_id, opened)
            return None
        return opened

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

    def _prompt(self, turn: Turn, session: Session, state: Request | None = None) -> None:
        state = state or self._state(turn, session.request_id)
        step, rid = session.awaiting, session.request_id
        cert = self.catalogue.certificate(state.certificate_code)
        if step.startswith("option:"):
            option = cert.option(step.removeprefix("option:")) if cert else None
            if option is None:
                # The catalogue changed under a draft: start again rather than guess.
                self._handle(turn, rid, Cancel(at=turn.now))
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
            turn.say(say.ask_birth_date(rid, turn.today))
        elif step == "address":
            turn.say(say.ask_postal_code())
        elif step.startswith(STREET):
            turn.say(say.ask_street(rid, self._locality(turn, step)))
        elif step == "phone":
            turn.say(say.ask_phone())
        elif step == "id_document":
            turn.say(say.ask_id_document(rid, self.catalogue.id_documents))
        elif step == "photo":
            turn.say(say.ask_photo(state.id_document_label or "本人確認書類"))
        elif step == "edit":
            turn.say(say.edit_menu(state))
        else:
            turn.say(*self._summary(turn, state))

    def _summary(self, turn: Turn, state: Request) -> list[Message]:
        masked = {name: say.mask(name, self._clear(turn, token)) for name, token in state.details.items()}
        cert = self.catalogue.certificate(state.certificate_code)
        names = {o.key: o.label for o in cert.options} if cert else {}
        review = self.links.review_url(required(state.request_id, "id"), state.user_id)
        return say.summary(say.SummaryView(state, masked, names, review))

    def _advance(self, turn: Turn, session: Session, answered: str, decision: Request) -> None:
        turn.session = self._after(decision, session, answered)
        self._prompt(turn, turn.session, decision)

    # --- postbacks -------------------------------------------------------------------------

    def _postback(self, turn: Turn, tapped: postback.Postback) -> None:
        action = tapped.action
        if action == "menu":
            turn.say(*say.menu(self.catalogue, draft=turn.session is not None))
        elif action == "start":
            self._start(turn, tapped.get("c"))
        elif action == "resume":
            if turn.session is None:
                turn.say(say.not_in_progress())
            else:
                self._prompt(turn, turn.session)
        elif action == "status":
            self._status(turn)
        elif action in ("cancel", "cancelyes", "pay"):
            self._about_request(turn, action, tapped.uuid("r"))
        else:
            self._draft_postback(turn, action, tapped)

    def _start(self, turn: Turn, code: str) -> None:
        cert = self.catalogue.certificate(code)
        if cert is None:
            turn.say(say.invalid("申し訳ありません。その証明書はただいま受け付けていません。"))
            turn.say(*say.menu(self.catalogue, draft=turn.session is not None))
            return
        if turn.session is not None:
            # One request is written at a time: a new start replaces the unfinished one.
            with contextlib.suppress(DomainError):
                self._handle(turn, turn.session.request_id, Cancel(at=turn.now))
        request_id = uuid.uuid5(turn.envelope.id, "request")
        decision = self._handle(
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
                at=turn.now,
            ),
        )
        turn.claim = True
        turn.session = Session(request_id, self._next_step(decision))
        turn.say(say.started(cert))
        self._prompt(turn, turn.session, decision)

    def _draft_postback(self, turn: Turn, action: str, tapped: postback.Postback) -> None:
        """Answers and buttons that belong to the request being written."""
        request_id = tapped.uuid("r")
        if request_id is None:
            turn.say(say.not_in_progress() if turn.session is None else say.stale_button())
            return
        session = turn.session
        if session is None or session.request_id != request_id:
            state = self._state(turn, request_id)
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
                self._option(turn, session, tapped.get("k"), tapped.get("v"))
            case "copies":
                self._copies(turn, session, tapped.get("n"))
            case "purpose":
                purpose = self.catalogue.purpose(tapped.get("p"))
                if purpose is None:
                    self._reask(turn, session)
                    return
                decision = self._handle(
                    turn, request_id, ChoosePurpose(code=purpose.code, label=purpose.label, at=turn.now)
                )
                self._advance(turn, session, "purpose", decision)
            case "dob":
                picked = (turn.intent.postback_params or {}).get("date", "")
                self._detail(turn, session, "birth_date", picked)
            case "doc":
                document = self.catalogue.id_document(tapped.get("d"))
                if document is None:
                    self._reask(turn, session)
                    return
                decision = self._handle(
                    turn,
                    request_id,
                    ChooseIdDocument(code=document.code, label=document.label, at=turn.now),
                )
                self._advance(turn, session, "id_document", decision)
            case "confirm":
                self._confirm(turn, session)
            case "edit":
                turn.session = Session(request_id, "edit")
                self._prompt(turn, turn.session)
            case "postal":
                turn.session = Session(request_id, "address", session.editing)
                self._prompt(turn, turn.session)
            case "editfield":
                self._edit_field(turn, session, tapped.get("f"))
            case "abort":
                self._abort(turn, session)
            case _:
                turn.say(say.stale_button())

    def _reask(self, turn: Turn, session: Session) -> None:
        turn.say(say.use_buttons())
        self._prompt(turn, session)

    def _option(self, turn: Turn, session: Session, key: str, value: str) -> None:
        state = self._state(turn, session.request_id)
        cert = self.catalogue.certificate(state.certificate_code)
        option = cert.option(key) if cert else None
        choice = option.choice(value) if option else None
        if choice is None or key not in state.option_keys:
            self._reask(turn, session)
            return
        decision = self._handle(
            turn,
            session.request_id,
            ChooseOption(key=key, value=choice.value, label=choice.label, at=turn.now),
        )
        self._advance(turn, session, f"option:{key}", decision)

    def _copies(self, turn: Turn, session: Session, text: str) -> None:
        try:
            copies = parse_copies(text)
        except BadAnswer as exc:
            turn.say(say.invalid(str(exc)))
            turn.session = Session(
                session.request_id, "copies", session.editing and session.awaiting == "copies"
            )
            self._prompt(turn, turn.session)
            return
        decision = self._handle(turn, session.request_id, ChooseCopies(copies=copies, at=turn.now))
        self._advance(turn, session, "copies", decision)

    def _detail(self, turn: Turn, session: Session, name: str, text: str) -> None:
        """A personal field: checked, then encrypted with the resident's key before it enters an event."""
        try:
            match name:
                case "name":
                    value = parse_name(text)
                case "birth_date":
                    value = parse_birth_date(text, turn.today).isoformat()
                case "seal_number":
                    value = parse_seal_number(text)
                case "address":
                    locality = self._locality(turn, session.awaiting)
                    value = locality.address(parse_street(text, locality))
                case _:
                    value = parse_phone(text)
        except BadAnswer as exc:
            turn.say(say.invalid(str(exc)))
            if name == "birth_date":
                turn.say(say.ask_birth_date(session.request_id, turn.today))
            return
        token = self._sealed(turn, value)
        decision = self._handle(turn, session.request_id, GiveDetail(field=name, value=token, at=turn.now))
        self._advance(turn, session, name, decision)

    def _postal_code(self, turn: Turn, session: Session, text: str) -> None:
        """The postal code fills the prefecture and town; it waits, encrypted, in the session for the rest."""
        try:
            locality = parse_postal_code(text)
        except BadAnswer as exc:
            turn.say(say.invalid(str(exc)))
            return
        token = self._sealed(turn, locality.postal_code)
        turn.session = Session(session.request_id, STREET + token, session.editing)
        turn.say(say.ask_street(session.request_id, locality))

    def _locality(self, turn: Turn, step: str) -> Locality:
        code = self._clear(turn, step.removeprefix(STREET))
        return parse_postal_code(code)

    def _edit_field(self, turn: Turn, session: Session, name: str) -> None:
        state = self._state(turn, session.request_id)
        if name == "options" and state.option_keys:
            step = f"option:{state.option_keys[0]}"
        elif name == "photo":
            step = "id_document"
        elif name in ("copies", "purpose", *say.personal_fields(state)):
            step = name
        else:
            self._reask(turn, session)
            return
        turn.session = Session(session.request_id, step, editing=True)
        self._prompt(turn, turn.session, state)

    def _abort(self, turn: Turn, session: Session) -> None:
        try:
            self._handle(turn, session.request_id, Cancel(at=turn.now))
        except DomainError as exc:
            log.info("abort of %s refused: %s", session.request_id, exc.reason)
        turn.session = None
        turn.say(say.aborted())

    def _confirm(self, turn: Turn, session: Session) -> None:
        """確定: open a checkout for the total and submit. A second 確定 finds the request submitted."""
        state = self._state(turn, session.request_id)
        if state.status != "drafting":
            turn.say(say.already_submitted(state))
            return
        if state.missing():
            turn.session = Session(session.request_id, self._next_step(state))
            self._prompt(turn, turn.session, state)
            return
        checkout = self._checkout(turn, session.request_id, state.total, attempt=1)
        if checkout is None:
            turn.say(say.checkout_unavailable())
            turn.session = Session(session.request_id, "confirm")
            return
        now = turn.now
        deadline = now + self.settings.payment_timeout
        try:
            decision = self._handle(
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
                turn.say(say.already_submitted(self._state(turn, session.request_id)))
                turn.session = None
                return
            raise
        turn.session = None  # the rest happens through buttons and links, not free text
        turn.say(*say.payment_link(decision, self._pay_url(decision), deadline))

    # --- free text and photos --------------------------------------------------------------

    def _text(self, turn: Turn, text: str) -> None:
        words = normalise(text)
        if words in STATUS_WORDS:
            self._status(turn)
            return
        session = turn.session
        if session is None:
            turn.say(say.not_in_progress())
            return
        if words in ABORT_WORDS:
            self._abort(turn, session)
            return
        if words == say.REVIEW_LABEL and session.awaiting == "confirm":
            self._prompt(turn, session)  # a fresh 内容を確認する link (the last one expired)
            return
        if self._typed_button(turn, session, words):
            return
        step = session.awaiting
        if step == "address":
            self._postal_code(turn, session, text)
        elif step.startswith(STREET):
            self._detail(turn, session, "address", text)
        elif step in ("name", "birth_date", "phone", "seal_number"):
            self._detail(turn, session, step, text)
        elif step == "copies":
            self._copies(turn, session, text)
        elif step == "photo":
            turn.say(say.invalid("本人確認書類の写真を送ってください。"))
            self._prompt(turn, session)
        else:
            self._reask(turn, session)

    def _typed_button(self, turn: Turn, session: Session, words: str) -> bool:
        """A typed label of a button the resident's current step shows counts as tapping it."""
        shown = Turn(turn.intent, turn.envelope, session, facts=turn.facts, states=turn.states)
        self._prompt(shown, session)
        if shown.session is None:  # the step could not be shown (the draft was closed): say so
            turn.session, turn.replies = None, shown.replies
            turn.commands.extend(shown.commands)
            return True
        for button in postback_buttons(shown.replies):
            if words in (normalise(button.label), normalise(button.display_text)):
                self._postback(turn, postback.decode(button.data) or NO_POSTBACK)
                return True
        return False

    def _image(self, turn: Turn) -> None:
        session = turn.session
        if session is None or session.awaiting != "photo":
            turn.say(say.not_expecting_photo())
            if session is not None:
                self._prompt(turn, session)
            return
        message_id = turn.intent.message_id
        photo: Photo | PhotoRefused = PhotoRefused("unavailable")
        if message_id:
            photo = turn.facts.get(
                StorePhoto(message_id, session.request_id, uuid.uuid5(turn.envelope.id, "photo"))
            )
        if isinstance(photo, PhotoRefused):
            turn.say(say.photo_refused(photo.reason))
            self._prompt(turn, session)
            return
        state = self._state(turn, session.request_id)
        decision = self._handle(
            turn,
            session.request_id,
            AttachPhoto(
                photo_id=photo.photo_id, content_type=photo.content_type, size=photo.size, at=turn.now
            ),
        )
        if state.photo_id is not None and state.photo_id != photo.photo_id:
            turn.discarded_photos.append(state.photo_id)  # replaced before anyone looked at it
        turn.say(say.photo_received())
        self._advance(turn, session, "photo", decision)

    # --- 申請状況, cancelling, paying ------------------------------------------------------

    def _status(self, turn: Turn) -> None:
        ids: list[tuple[uuid.UUID, datetime]] = turn.facts.get(ResidentRequests(STATUS_LIMIT))
        items = []
        for request_id, updated_at in ids:
            state = self._state(turn, request_id)
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

    def _about_request(self, turn: Turn, action: str, request_id: uuid.UUID | None) -> None:
        state = self._state(turn, request_id) if request_id else Request()
        if request_id is None or state.user_id != turn.intent.user_id:
            turn.say(say.stale_button())
            return
        if action == "cancel":
            if state.status in CANCELLABLE:
                turn.say(say.confirm_cancel(state))
            else:
                turn.say(say.cannot_cancel(state))
        elif action == "cancelyes":
            self._cancel(turn, request_id, state)
        else:
            self._pay(turn, request_id, state)

    def _cancel(self, turn: Turn, request_id: uuid.UUID, state: Request) -> None:
        try:
            decision = self._handle(turn, request_id, Cancel(at=turn.now))
        except DomainError as exc:
            if exc.reason == "already_issued":
                turn.say(say.cannot_cancel(state))
            else:
                turn.say(say.invalid(f"受付番号 {state.number} の申請は、すでに終了しています。"))
            return
        if turn.session is not None and turn.session.request_id == request_id:
            turn.session = None
        refund = decision.refunds_pending.get(state.payment_id or "")
        turn.say(say.cancelled(decision, refund))

    def _pay(self, turn: Turn, request_id: uuid.UUID, state: Request) -> None:
        if state.status == "payment_pending":
            deadline = required(state.payment_deadline, "payment deadline")
            turn.say(*say.payment_link(state, self._pay_url(state), deadline, "reminder"))
            return
        if state.status != "payment_failed":
            turn.say(say.no_payment_needed(state))
            return
        checkout = self._checkout(turn, request_id, state.amount, attempt=len(state.checkouts) + 1)
        if checkout is None:
            turn.say(say.checkout_unavailable())
            return
        try:
            decision = self._handle(
                turn,
                request_id,
                RetryPayment(checkout_id=checkout.checkout_id, checkout_url=checkout.url, at=turn.now),
            )
        except DomainError:
            turn.say(say.no_payment_needed(self._state(turn, request_id)))
            return
        deadline = required(decision.payment_deadline, "payment deadline")
        turn.say(*say.payment_link(decision, self._pay_url(decision), deadline, "renewed"))

    def _pay_url(self, state: Request) -> str:
        """The 支払う button leads through the town's server to whichever checkout is current."""
        return self.links.pay_url(required(state.request_id, "id"), state.user_id)
