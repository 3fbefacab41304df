"""Composition root of the certificates service (its `ServiceSpec` is in spec.py).

Environment (besides the shared names; see README.md):
- `CITYHALL_CERTIFICATES_CATALOGUE`: the catalogue file (default: the packaged catalogue.yaml).
- `CITYHALL_PAYMENTS_URL`: the payment provider's base URL; required in the production
  profile, where the service refuses to start without it (in development the default is
  `<public URL>/pay`, the simulated provider); `CITYHALL_PAYMENTS_SECRET`: the secret shared
  with it (the embedded run in development generates one); `CITYHALL_PAYMENTS_CALLBACK_URL`: where the provider
  sends its notices (default `<public URL>/staff/certificates/payments/callback`);
  `CITYHALL_PAYMENTS_RETURN_URL`: where the checkout page sends the resident back to.
- `CITYHALL_PAYMENT_TIMEOUT_MINUTES` (default 30), `CITYHALL_DRAFT_IDLE_MINUTES` (default 30),
  `CITYHALL_ID_PHOTO_RETENTION_DAYS` (default 30), `CITYHALL_CERTIFICATES_SWEEP_SECONDS`
  (default 5).
- The staff console kit's settings (`CITYHALL_SESSION_SECRET`, OIDC): see libs/web.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cityhall.certificates import resident
from cityhall.certificates.api import Dashboard, create_app
from cityhall.certificates.catalogue import Catalogue, CatalogueError, load
from cityhall.certificates.desk import Desk
from cityhall.certificates.dialog import DialogSettings
from cityhall.certificates.domain import Request, certificate_decider
from cityhall.certificates.events import SOURCE, Command
from cityhall.certificates.handlers import Intents, Notices, PaymentCallbacks
from cityhall.certificates.housekeeping import Housekeeping, Timers
from cityhall.certificates.projections import DAILY, PROJECTIONS, REQUESTS
from cityhall.certificates.resident import ResidentLinks
from cityhall.certificates.settings import CertificatesEnv
from cityhall.certificates.spec import MOUNT
from cityhall.events.decider import CommandHandler
from cityhall.events.personal import PersonalData
from cityhall.line.content import Downloader, PhotoStore, line_content
from cityhall.payment_protocol.port import PaymentProvider, connect
from cityhall.runtime.intents import intents_consumer
from cityhall.runtime.service import Consumer, Running, ServiceContext
from cityhall.web import StaffAuth, WebConfig, staff_app


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Options:
    payment_timeout: timedelta = timedelta(minutes=30)
    draft_idle: timedelta = timedelta(minutes=30)
    photo_retention: timedelta = timedelta(days=30)
    sweep_interval: float = 5.0
    payments_url: str | None = None
    callback_url: str | None = None
    return_url: str = "https://line.me/R/"
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Options:
        env = dict(os.environ if env is None else env)
        read = CertificatesEnv.read(env)
        return cls(
            payment_timeout=timedelta(minutes=read.payment_timeout_minutes),
            draft_idle=timedelta(minutes=read.draft_idle_minutes),
            photo_retention=timedelta(days=read.photo_retention_days),
            sweep_interval=read.sweep_seconds,
            payments_url=read.payments_url,
            callback_url=read.callback_url,
            return_url=read.return_url,
            env=env,
        )


@dataclass
class Certificates:
    """The started parts, for tests."""

    catalogue: Catalogue
    requests: CommandHandler[Command, Request]
    personal: PersonalData
    photos: PhotoStore
    provider: PaymentProvider
    dialog: Intents
    notices: Notices
    callbacks: PaymentCallbacks
    desk: Desk
    housekeeping: Housekeeping
    auth: StaffAuth


async def start(
    ctx: ServiceContext,
    options: Options | None = None,
    *,
    clock: Callable[[], datetime] = utc_now,
    content: Downloader | None = None,
    provider: PaymentProvider | None = None,
    web: WebConfig | None = None,
) -> tuple[Certificates, Running]:
    options = options or Options.from_env()
    try:
        catalogue = load(options.env or None)
    except CatalogueError as exc:
        raise SystemExit(str(exc)) from exc
    settings = ctx.settings
    pool, store = ctx.require_pool(), ctx.require_store()
    web = web or WebConfig.from_context(ctx, options.env or None)
    content = content or line_content(settings, "certificates")
    closing = []
    if provider is None:
        http_provider = connect(
            "certificates",
            CertificatesEnv.read(options.env or None),
            settings,
            callback_url=options.callback_url or f"{settings.public_url}{MOUNT}/payments/callback",
            embedded=ctx.mode == "embedded",
        )
        closing.append(http_provider.close)
        provider = http_provider
    requests = CommandHandler(store, certificate_decider, source=SOURCE)
    personal = PersonalData(pool)
    photos = PhotoStore(pool, personal, table="id_photos", owner="request_id")
    links = ResidentLinks.from_secret(web.session_secret, f"{settings.public_url}{MOUNT}", clock)
    dialog = Intents(
        catalogue=catalogue,
        store=store,
        requests=requests,
        personal=personal,
        photos=photos,
        content=content,
        provider=provider,
        links=links,
        clock=clock,
        settings=DialogSettings(payment_timeout=options.payment_timeout, return_url=options.return_url),
    )
    notices = Notices(dialog.conversation, requests)
    callbacks = PaymentCallbacks(pool, requests, provider, clock)
    desk = Desk(pool, requests, catalogue, personal, photos, clock)
    housekeeping = Housekeeping(
        pool,
        requests,
        photos,
        provider,
        clock,
        Timers(
            draft_idle=options.draft_idle,
            photo_retention=options.photo_retention,
            interval=options.sweep_interval,
        ),
    )
    staff = staff_app(ctx, "certificates", projections=[REQUESTS, DAILY], web=web)
    parts = Certificates(
        catalogue=catalogue,
        requests=requests,
        personal=personal,
        photos=photos,
        provider=provider,
        dialog=dialog,
        notices=notices,
        callbacks=callbacks,
        desk=desk,
        housekeeping=housekeeping,
        auth=staff.auth,
    )
    dashboard = Dashboard(pool, store, catalogue, personal, photos, desk, options.payment_timeout)
    app = create_app(staff, dashboard, callbacks, clock)
    app.include_router(resident.router(pool, requests, personal, catalogue, links))
    running = Running(
        app=app,
        consumers=[
            intents_consumer("certificates", dialog.on_intent, dialog.conversation, prepare=dialog.prepare),
            Consumer("certificates-notices", ("events.certificates",), notices.on_event, batched=True),
        ],
        projections=list(PROJECTIONS),
        relay="certificates-relay",
        tasks=[housekeeping.run],
        on_stop=[staff.live.close, *closing],
        banner=[f"  Certificates       : {settings.public_url}{MOUNT}/  (role certificates)"],
    )
    return parts, running


async def build(ctx: ServiceContext) -> Running:
    _parts, running = await start(ctx)
    return running
