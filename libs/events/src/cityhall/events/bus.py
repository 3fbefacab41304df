"""The message bus port. `KafkaBus` (production) and `EmbeddedBus` (one process) implement it.

Records travel as CloudEvents in Kafka binary mode on both buses, so the same bytes
are parsed the same way whichever bus carried them. Consumers keep their read
positions in their own database (`consumer_offsets`), written in the same
transaction as their effects; a subscription starts from those positions.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import Gauge

from cityhall.events.db import Pool
from cityhall.events.envelope import Envelope


@dataclass(frozen=True)
class Record:
    """An outgoing record: topic, partition key, CloudEvents binary value and headers."""

    topic: str
    key: str
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    @classmethod
    def of(cls, topic: str, key: str, envelope: Envelope) -> Record:
        _k, value, headers = envelope.to_kafka(key)
        return cls(topic=topic, key=key, value=value, headers=tuple(headers))


@dataclass(frozen=True)
class Message:
    """A received record with its place in the log."""

    topic: str
    partition: int
    offset: int
    key: str
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    def envelope(self) -> Envelope:
        """The CloudEvent inside; `ValueError` when it is not one (a poison message). Decoded once:
        a batched consumer asks for it to sort a message and again to handle it."""
        decoded: Envelope | None = self.__dict__.get("_envelope")
        if decoded is None:
            decoded = Envelope.from_kafka(self.key.encode(), self.value, list(self.headers))
            object.__setattr__(self, "_envelope", decoded)  # frozen: the fields, not this cache
        return decoded

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v.decode(errors="replace")
        return None


CONSUMER_LAG = Gauge(
    "cityhall_consumer_lag",
    "Records a consumer group has yet to read, per topic and partition, sampled when it fetches.",
    ["consumer", "topic", "partition"],
)
"""Set by each bus's subscription: Kafka's high-water mark minus the consumer's position, or the
embedded log's records after the group's position. Sampled on fetch, so a scrape costs nothing."""


class PublishError(Exception):
    """The bus did not acknowledge a record."""


class Subscription(abc.ABC):
    """A consumer group's view of some topics, starting from the positions stored in `pool`."""

    group: str

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    async def fetch(self, timeout: float) -> list[Message]:
        """The next messages in order per partition (empty after `timeout` seconds without any)."""

    def record_lag(self, topic: str, partition: int, lag: int) -> None:
        CONSUMER_LAG.labels(self.group, topic, str(partition)).set(max(0, lag))

    def forget_lag(self, topic: str, partition: int) -> None:
        """A partition this member no longer reads: another member (or none) reports it."""
        with contextlib.suppress(KeyError):
            CONSUMER_LAG.remove(self.group, topic, str(partition))


class Bus(abc.ABC):
    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    async def publish(self, records: Sequence[Record], *, timeout: float = 10.0) -> None:
        """Publish and wait until the bus has acknowledged every record, in order per key.

        Raises `PublishError` (or `TimeoutError`) when not all were acknowledged.
        """

    @abc.abstractmethod
    def subscribe(self, group: str, topics: Sequence[str], pool: Pool) -> Subscription:
        """A subscription for consumer group `group`, resuming from the offsets stored in `pool`."""


async def stored_offsets(pool: Pool, group: str, topics: Sequence[str]) -> dict[tuple[str, int], int]:
    """(topic, partition) -> next offset to read, as the consumer last committed it."""
    rows = await pool.fetch(
        "SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer = $1 AND topic = ANY($2)",
        group,
        list(topics),
    )
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
