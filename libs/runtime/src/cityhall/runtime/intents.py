"""The consumer of a domain's resident intents, the same for every department service."""

from __future__ import annotations

from typing import Any, Protocol

from cityhall.events.consumer import DeadLetter, Handler
from cityhall.line.contracts import intents_topic
from cityhall.runtime.service import Consumer


class Answering(Protocol):
    """What answers a resident whose message failed for good (`cityhall.line.dialog.Conversation`)."""

    @property
    def could_not_handle(self) -> DeadLetter: ...


def intents_consumer(domain: str, handler: Handler, conversation: Answering, **options: Any) -> Consumer:
    """Consume `intents.<domain>` as the group `<domain>-intents` (its inbox and offsets: never
    rename it) with `handler`; a message that fails for good is answered by the conversation's
    `could_not_handle`, so the resident is never left in silence. `options`: `Consumer`'s
    (`prepare`, `concurrency`)."""
    return Consumer(
        f"{domain}-intents",
        (intents_topic(domain),),
        handler,
        on_dead_letter=conversation.could_not_handle,
        **options,
    )
