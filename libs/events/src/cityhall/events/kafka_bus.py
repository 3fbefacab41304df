"""The production bus: Apache Kafka through aiokafka.

Publishing uses an idempotent producer (`acks=all`), so a retried batch is never written
twice and records with the same key keep their order. Consumers do not trust Kafka's
committed offsets: the source of truth is the `consumer_offsets` table that each consumer
writes in the same transaction as its effects. Whenever partitions are assigned, the
subscription seeks them to those stored offsets. It also copies the stored offsets to
Kafka now and then, only so that the usual tools can show consumer lag.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import IllegalStateError, KafkaError, TopicAlreadyExistsError, for_code

from cityhall.events.backoff import Backoff
from cityhall.events.bus import Bus, Message, PublishError, Record, Subscription, stored_offsets
from cityhall.events.db import Pool

log = logging.getLogger(__name__)

_OFFSETS_RETRY = Backoff(base=0.2, cap=1.6, jitter=False, max_attempts=5)

MAX_RECORDS_PER_FETCH = 500

PACED_ABOVE = 150.0
"""Records per second a subscription reads above which its fetches are paced (`FetchPacing`).
Not 100: at a steady 100/s a one-second window often counts a few more, and pacing then added
~10 ms to the median latency (bench/RESULTS.md, bench_consumer)."""
PACED_MAX_WAIT_MS = 20
PACED_MIN_BYTES = 64 * 1024
PACING_WINDOW = 1.0
"""Seconds over which the rate is measured; pacing changes at most once per window."""


class FetchPacing:
    """Whether a subscription's fetches wait for more records.

    Unpaced (aiokafka's default), the broker answers a fetch as soon as it has one record, so at a
    few hundred records a second each fetch brings one or two and the broker and the client pay
    their per-request cost for each. Paced, a fetch waits up to `PACED_MAX_WAIT_MS` for
    `PACED_MIN_BYTES`: many records a request, for at most 20 ms more latency, and only while the
    rate is above `PACED_ABOVE`, so a lone message (a resident's tap on a quiet day) is never held.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.paced = False
        self._since = clock()
        self._count = 0

    def fetched(self, count: int) -> bool:
        """Count a fetch's records; whether fetches are paced from now on."""
        self._count += count
        now = self.clock()
        elapsed = now - self._since
        if elapsed >= PACING_WINDOW:
            self.paced = self._count / elapsed > PACED_ABOVE
            self._since, self._count = now, 0
        return self.paced


class KafkaBus(Bus):
    """`Bus` on Kafka. Topics are created on first use with `topic_partitions` partitions.

    `replication_factor=None` picks min(3, number of brokers).
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str = "cityhall",
        topic_partitions: int = 4,
        replication_factor: int | None = None,
        lag_commit_interval: float = 5.0,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.client_id = client_id
        self.topic_partitions = topic_partitions
        self.replication_factor = replication_factor
        self.lag_commit_interval = lag_commit_interval
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._known_topics: set[str] = set()
        self._topics_lock = asyncio.Lock()

    # --- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=0,  # senders hand over whole batches; lingering would only add latency
            max_batch_size=256 * 1024,
        )
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        admin, self._admin = self._admin, None
        if producer is not None:
            await producer.stop()  # flushes what is still buffered
        if admin is not None:
            await admin.close()

    # --- topics -------------------------------------------------------------------------------------

    async def ensure_topics(self, names: Iterable[str]) -> None:
        """Create the topics that do not exist yet; brokers may forbid auto-creation (Strimzi does)."""
        missing = sorted(set(names) - self._known_topics)
        if not missing:
            return
        async with self._topics_lock:
            missing = [n for n in missing if n not in self._known_topics]
            if not missing:
                return
            admin = await self._admin_client()
            replication = self.replication_factor or await self._default_replication(admin)
            response = await admin.create_topics(
                [NewTopic(name, self.topic_partitions, replication) for name in missing]
            )
            for topic, code, *rest in response.topic_errors:
                if code and for_code(code) is not TopicAlreadyExistsError:
                    message = rest[0] if rest else ""
                    raise for_code(code)(f"could not create topic {topic}: {message}")
            await self._wait_for_leaders(admin, missing)
            self._known_topics.update(missing)

    async def _admin_client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, client_id=self.client_id)
            await admin.start()
            self._admin = admin
        return self._admin

    @staticmethod
    async def _wait_for_leaders(admin: AIOKafkaAdminClient, topics: list[str], timeout: float = 10.0) -> None:
        """Until every partition of new `topics` has a leader; sending earlier only earns retries."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = await admin.describe_topics(topics)
            if all(
                t["error_code"] == 0 and t["partitions"] and all(p["leader"] >= 0 for p in t["partitions"])
                for t in described
            ):
                return
            await asyncio.sleep(0.05)
        # Not fatal: the producer and consumers retry until the leaders are there.
        log.warning("topics %s still have partitions without a leader after %s s", topics, timeout)

    @staticmethod
    async def _default_replication(admin: AIOKafkaAdminClient) -> int:
        cluster = await admin.describe_cluster()
        return max(1, min(3, len(cluster.get("brokers", []))))

    # --- publishing ---------------------------------------------------------------------------------

    async def publish(self, records: Sequence[Record], *, timeout: float = 10.0) -> None:
        if not records:
            return
        producer = self._producer
        if producer is None:
            raise RuntimeError("KafkaBus is not started")
        async with asyncio.timeout(timeout):
            try:
                await self.ensure_topics({r.topic for r in records})
                # Enqueue one after the other, so the records of a key reach their partition in order;
                # then wait for every acknowledgement together.
                deliveries = [
                    await producer.send(r.topic, r.value, key=r.key.encode(), headers=list(r.headers))
                    for r in records
                ]
                await asyncio.gather(*deliveries)
            except KafkaError as exc:
                raise PublishError(f"Kafka did not acknowledge the records: {exc!r}") from exc

    # --- consuming ----------------------------------------------------------------------------------

    def subscribe(self, group: str, topics: Sequence[str], pool: Pool) -> KafkaSubscription:
        return KafkaSubscription(self, group, topics, pool)


def pace(consumer: AIOKafkaConsumer, paced: bool) -> None:
    """Pace the fetches `consumer` sends from now on (see `FetchPacing`), or stop pacing them.

    aiokafka has no public way to change a running consumer's fetch settings; its fetcher reads
    these two attributes whenever it builds a fetch request (test_kafka_bus guards that)."""
    fetcher = consumer._fetcher
    fetcher._fetch_min_bytes = PACED_MIN_BYTES if paced else consumer._fetch_min_bytes
    fetcher._fetch_max_wait_ms = PACED_MAX_WAIT_MS if paced else consumer._fetch_max_wait_ms


class _SeekToStoredOffsets(ConsumerRebalanceListener):
    """On every assignment, positions come from the consumer's own database."""

    def __init__(self, subscription: KafkaSubscription) -> None:
        self.subscription = subscription

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        # Offsets are written with the handlers' effects: nothing to save here.
        for tp in revoked:
            self.subscription.forget_lag(tp.topic, tp.partition)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self.subscription._seek_assigned(list(assigned))


class KafkaSubscription(Subscription):
    """A consumer-group member; see `KafkaBus.subscribe`.

    If the stored offsets cannot be read when partitions are assigned, `fetch` raises that
    error from then on: positions are unknown, so the subscription must be stopped and
    started again rather than guess.
    """

    def __init__(self, bus: KafkaBus, group: str, topics: Sequence[str], pool: Pool) -> None:
        self.bus = bus
        self.group = group
        self.topics = list(topics)
        self.pool = pool
        self._consumer: AIOKafkaConsumer | None = None
        self._error: BaseException | None = None
        self._lag_task: asyncio.Task[None] | None = None
        self._last_lag_commit = 0.0
        self._floor: dict[tuple[str, int], int] = {}
        self.pacing = FetchPacing()

    async def start(self) -> None:
        if self._consumer is not None:
            return
        # Subscribing to a topic that does not exist yet would leave the group without partitions.
        await self.bus.ensure_topics(self.topics)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bus.bootstrap_servers,
            client_id=f"{self.bus.client_id}-{self.group}",
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=MAX_RECORDS_PER_FETCH,
        )
        await consumer.start()
        self._consumer = consumer  # before subscribing: the listener seeks through it
        consumer.subscribe(self.topics, listener=_SeekToStoredOffsets(self))
        self._last_lag_commit = time.monotonic()

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        task, self._lag_task = self._lag_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if consumer is not None:
            for tp in consumer.assignment():
                self.forget_lag(tp.topic, tp.partition)
            await consumer.stop()  # leaves the group at once, so the others rebalance without waiting

    async def fetch(self, timeout: float) -> list[Message]:
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("subscription is not started")
        if self._error is not None:
            raise self._error
        batches = await consumer.getmany(
            timeout_ms=max(0, int(timeout * 1000)), max_records=MAX_RECORDS_PER_FETCH
        )
        if self._error is not None:
            raise self._error
        messages = [
            Message(
                topic=r.topic,
                partition=r.partition,
                offset=r.offset,
                key=r.key.decode("utf-8", errors="replace") if r.key is not None else "",
                value=r.value if r.value is not None else b"",
                headers=tuple((k, v if v is not None else b"") for k, v in r.headers),
            )
            for tp in sorted(batches, key=lambda tp: (tp.topic, tp.partition))
            for r in batches[tp]
            # Records prefetched before the seek to the stored offsets were handled already.
            if r.offset >= self._floor.get((tp.topic, tp.partition), 0)
        ]
        await self._sample_lag(consumer)
        self._maybe_commit_lag()
        was_paced = self.pacing.paced
        if self.pacing.fetched(len(messages)) != was_paced:
            pace(consumer, not was_paced)
        return messages

    async def _sample_lag(self, consumer: AIOKafkaConsumer) -> None:
        """High-water mark minus position, both as the last fetch responses left them: no round trip."""
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:  # known once a fetch response for the partition came back
                continue
            try:
                position = await consumer.position(tp)
            except IllegalStateError:  # revoked meanwhile by a rebalance
                continue
            self.record_lag(tp.topic, tp.partition, highwater - position)

    async def _seek_assigned(self, assigned: list[TopicPartition]) -> None:
        consumer = self._consumer
        if consumer is None or not assigned:
            return
        try:
            stored = await self._load_offsets()
        except Exception as exc:
            log.error("%s: could not read stored offsets: %s", self.group, exc)
            self._error = exc
            return
        for tp in assigned:
            offset = stored.get((tp.topic, tp.partition))
            self._floor[(tp.topic, tp.partition)] = offset or 0
            if offset is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset)

    async def _load_offsets(self) -> dict[tuple[str, int], int]:
        # Rebalances happen when services restart, which is also when the database may blink.
        attempt = 0
        while True:
            attempt += 1
            try:
                return await stored_offsets(self.pool, self.group, self.topics)
            except (TimeoutError, OSError) as exc:
                if _OFFSETS_RETRY.gives_up(attempt):
                    raise
                log.warning("%s: reading stored offsets failed (%s), retrying", self.group, exc)
                await asyncio.sleep(_OFFSETS_RETRY.delay(attempt))

    def _maybe_commit_lag(self) -> None:
        """Now and then, copy the stored offsets to Kafka in the background (monitoring only)."""
        if self.bus.lag_commit_interval <= 0 or (self._lag_task is not None and not self._lag_task.done()):
            return
        now = time.monotonic()
        if now - self._last_lag_commit < self.bus.lag_commit_interval:
            return
        self._last_lag_commit = now
        self._lag_task = asyncio.create_task(self._commit_lag(), name=f"kafka-lag-commit-{self.group}")

    async def _commit_lag(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        try:
            assigned = consumer.assignment()
            stored = await stored_offsets(self.pool, self.group, self.topics)
            offsets = {
                tp: stored[(tp.topic, tp.partition)] for tp in assigned if (tp.topic, tp.partition) in stored
            }
            if offsets:
                await consumer.commit(offsets)
        except Exception as exc:
            # A rebalance, a broker or database blip: the next round commits again, and nothing
            # reads these offsets back, so a skipped round costs nothing.
            log.debug("%s: lag commit skipped: %s", self.group, exc)
