"""Composition root: notify's consumers, dispatcher, relay and projection, from settings.

Environment (besides the shared names): `NOTIFY_WORKERS` (requests delivered at once,
default 32), `NOTIFY_LINE_TIMEOUT` (seconds per Messaging API request, default 10), the channel's plan for
the composer's cost preview (`NOTIFY_PLAN_YEN`, `NOTIFY_PLAN_FREE_MESSAGES`,
`NOTIFY_ADDITIONAL_MESSAGE_YEN`: `cityhall.notify.plan`), and the staff sign-in of libs/web
(`CITYHALL_SESSION_SECRET`, `CITYHALL_OIDC_*`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import Field

from cityhall.events.backoff import Backoff
from cityhall.events.decider import CommandHandler
from cityhall.events.personal import PersonalData
from cityhall.line.contracts import OUTBOUND_TOPIC, intents_topic
from cityhall.line.ratelimit import RateLimit
from cityhall.notify.api import create_api
from cityhall.notify.delivery import Deliverer, Friends
from cityhall.notify.desk import Desk
from cityhall.notify.dispatcher import DeliveryQueue, Dispatcher
from cityhall.notify.domain import notice_decider
from cityhall.notify.events import SOURCE
from cityhall.notify.handlers import Handlers
from cityhall.notify.images import NoticeImages
from cityhall.notify.line_api import LINE_BACKOFF, LINE_LIMITS, Endpoint, LineApi
from cityhall.notify.newcomers import Newcomers
from cityhall.notify.plan import Plan
from cityhall.notify.projections import DeliveriesProjection
from cityhall.notify.safety import Safety
from cityhall.notify.sender import NoticeSender
from cityhall.notify.spec import service
from cityhall.runtime.env import EnvSettings
from cityhall.runtime.service import LINE_API, Consumer, Running, ServiceContext
from cityhall.web import StaffAuth, WebConfig

OUTBOUND_CONSUMER = "notify-outbound"


@dataclass(frozen=True)
class Options:
    workers: int = 32
    line_timeout: float = 10.0
    limits: Mapping[Endpoint, RateLimit] = field(default_factory=lambda: dict(LINE_LIMITS))
    backoff: Backoff = LINE_BACKOFF
    notice_concurrency: int = 32
    """Multicasts of notices in flight at once (LINE's 200/s is the bucket's to keep)."""
    plan: Plan = field(default_factory=Plan)
    """The channel's plan: the composer shows what a notice costs beyond the free messages."""
    web: WebConfig | None = None
    """Staff sign-in for the API; None: from the environment (`CITYHALL_SESSION_SECRET`, OIDC)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Options:
        read = NotifyEnv.read(env)
        plan = Plan(read.plan_yen, read.plan_free_messages, read.additional_message_yen)
        return cls(workers=read.workers, line_timeout=read.line_timeout, plan=plan)


class NotifyEnv(EnvSettings):
    """notify's own variables (see the module's docstring)."""

    workers: int = Field(Options.workers, alias="NOTIFY_WORKERS", gt=0)
    line_timeout: float = Field(Options.line_timeout, alias="NOTIFY_LINE_TIMEOUT", gt=0)
    plan_yen: int = Field(Plan.monthly_yen, alias="NOTIFY_PLAN_YEN", ge=0)
    plan_free_messages: int = Field(Plan.free_messages, alias="NOTIFY_PLAN_FREE_MESSAGES", ge=0)
    additional_message_yen: float = Field(Plan.additional_yen, alias="NOTIFY_ADDITIONAL_MESSAGE_YEN", ge=0)


@dataclass
class Notify:
    """The started parts, for tests and benchmarks."""

    handlers: Handlers
    queue: DeliveryQueue
    dispatcher: Dispatcher
    line: LineApi
    sender: NoticeSender
    desk: Desk
    newcomers: Newcomers
    safety: Safety


async def start(context: ServiceContext, options: Options | None = None) -> tuple[Notify, Running]:
    options = options or Options.from_env()
    settings = context.settings
    if not settings.line_channel_access_token:
        raise RuntimeError("notify sends through the Messaging API: set LINE_CHANNEL_ACCESS_TOKEN")
    store = context.require_store()
    pool = context.require_pool()
    line = LineApi(
        settings.line_api_url or LINE_API,
        settings.line_channel_access_token,
        limits=options.limits,
        timeout=options.line_timeout,
        backoff=options.backoff,
    )
    queue = DeliveryQueue(store)
    dispatcher = Dispatcher(queue, Deliverer(queue, line, Friends(pool)), workers=options.workers)
    sender = NoticeSender(
        pool,
        line,
        CommandHandler(store, notice_decider, source=SOURCE),
        concurrency=options.notice_concurrency,
        clock=settings.now,  # CITYHALL_CLOCK_OFFSET moves it (development only): quiet hours, schedules
    )
    safety = Safety(pool, sender, PersonalData(pool))
    handlers = Handlers(store, queue, safety)
    images = NoticeImages(
        pool, settings.public_url + service.mount, require_https=settings.profile == "production"
    )
    desk = Desk(pool, store, handlers.audience, sender, images, options.plan)
    newcomers = Newcomers(pool, sender, clock=settings.now)
    parts = Notify(
        handlers=handlers,
        queue=queue,
        dispatcher=dispatcher,
        line=line,
        sender=sender,
        desk=desk,
        newcomers=newcomers,
        safety=safety,
    )
    running = Running(
        app=create_api(
            pool,
            dispatcher,
            desk,
            newcomers,
            safety,
            StaffAuth(options.web or WebConfig.from_context(context)),
            handlers.disaster,
        ),
        consumers=[
            Consumer(
                OUTBOUND_CONSUMER,
                (OUTBOUND_TOPIC,),
                handlers.on_outbound,
                batched=True,
                handle_batch=handlers.on_outbound_batch,
            ),
            Consumer(
                "notify-intents",
                (intents_topic("notify"),),
                handlers.on_intent,
                batched=True,
                on_dead_letter=handlers.conversation.could_not_handle,
            ),
        ],
        projections=[DeliveriesProjection()],
        relay="relay",  # the name notify's relay has always had: its checkpoint
        tasks=[dispatcher.run, sender.run, newcomers.run, images.run],
        on_stop=[line.close],
    )
    return parts, running


async def build(context: ServiceContext) -> Running:
    _parts, running = await start(context)
    return running
