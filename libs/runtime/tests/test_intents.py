"""The intents consumer every department service declares the same way."""

from __future__ import annotations

from cityhall.events.db import Connection
from cityhall.events.envelope import Envelope
from cityhall.runtime.intents import intents_consumer


class Talk:
    async def could_not_handle(self, envelope: Envelope, conn: Connection) -> None: ...


async def handle(envelope: Envelope, conn: Connection) -> None: ...


def test_it_reads_the_domains_topic_as_its_group_and_answers_what_fails_for_good() -> None:
    talk = Talk()
    consumer = intents_consumer("voice", handle, talk, concurrency=4)
    assert (consumer.group, consumer.topics, consumer.handler) == (
        "voice-intents",
        ("intents.voice",),
        handle,
    )
    assert consumer.on_dead_letter == talk.could_not_handle
    assert consumer.concurrency == 4 and consumer.prepare is None and not consumer.batched
