"""KafkaBus against a real broker (the `kafka_bootstrap` fixture): order, stored offsets, volume."""

from __future__ import annotations

import inspect
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.consumer.fetcher import Fetcher

from cityhall.events.bus import Message, Record, Subscription
from cityhall.events.db import Pool, create_pool, migrate
from cityhall.events.envelope import Envelope
from cityhall.events.kafka_bus import (
    PACED_ABOVE,
    PACED_MAX_WAIT_MS,
    PACED_MIN_BYTES,
    FetchPacing,
    KafkaBus,
    pace,
)
from cityhall.events.testing import wait_for
from cityhall.events.testing.samples import CounterIncremented

PARTITIONS = 4


@pytest.fixture
async def offsets_pool(fresh_database: str) -> AsyncIterator[Pool]:
    """A service schema with the backbone tables, `consumer_offsets` among them."""
    pool = await create_pool(fresh_database, "svc_test")
    await migrate(pool, ["cityhall.events"])
    yield pool
    await pool.close()


@pytest.fixture
async def bus(kafka_bootstrap: str) -> AsyncIterator[KafkaBus]:
    bus = KafkaBus(kafka_bootstrap, client_id="test-kafka-bus", topic_partitions=PARTITIONS)
    await bus.start()
    yield bus
    await bus.stop()


@pytest.fixture
def topic() -> str:
    return f"events.kafkatest{uuid.uuid4().hex[:10]}"


def record(topic: str, key: str, seq: int) -> Record:
    envelope = Envelope.wrap(CounterIncremented(by=seq), source="/services/test", subject=key)
    return Record.of(topic, key, envelope)


async def collect(subscription: Subscription, count: int, timeout: float = 60.0) -> list[Message]:
    """Fetch until `count` messages have arrived."""
    received: list[Message] = []

    async def enough() -> bool:
        received.extend(await subscription.fetch(timeout=0.5))
        return len(received) >= count

    await wait_for(enough, timeout=timeout, interval=0, message=f"expected {count} messages")
    return received


async def test_round_trip_keeps_order_per_key_across_partitions(
    bus: KafkaBus, offsets_pool: Pool, topic: str
) -> None:
    keys = [f"certificateRequest-{i}" for i in range(12)]
    # The topic does not exist yet when the group subscribes.
    subscription = bus.subscribe("round-trip", [topic], offsets_pool)
    await subscription.start()
    try:
        await bus.publish([record(topic, key, seq) for seq in range(25) for key in keys])
        messages = await collect(subscription, len(keys) * 25)
    finally:
        await subscription.stop()

    assert len(messages) == len(keys) * 25
    seqs: dict[str, list[int]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    for m in messages:
        envelope = m.envelope()
        assert envelope.subject == m.key
        assert m.header("ce_type") == CounterIncremented.TYPE
        seqs[m.key].append(envelope.data["by"])
        partitions[m.key].add(m.partition)
    assert all(seqs[key] == list(range(25)) for key in keys), "per-key order was not kept"
    assert all(len(p) == 1 for p in partitions.values()), "a key must stay on one partition"
    assert len(set().union(*partitions.values())) > 1, "the keys should spread over partitions"
    # Offsets rise within each partition.
    by_partition: dict[int, list[int]] = defaultdict(list)
    for m in messages:
        by_partition[m.partition].append(m.offset)
    assert all(offsets == sorted(offsets) for offsets in by_partition.values())


async def test_group_resumes_from_offsets_stored_in_postgres(
    bus: KafkaBus, offsets_pool: Pool, topic: str, kafka_bootstrap: str
) -> None:
    group = "resume-test"
    keys = [f"reservation-{i}" for i in range(16)]
    await bus.publish([record(topic, key, seq) for seq in range(10) for key in keys])

    # A first member reads everything, so that we know what each partition holds.
    first = bus.subscribe(group, [topic], offsets_pool)
    await first.start()
    try:
        everything = await collect(first, len(keys) * 10)
    finally:
        await first.stop()
    ends: dict[int, int] = defaultdict(int)
    for m in everything:
        ends[m.partition] = max(ends[m.partition], m.offset + 1)
    used = sorted(ends)
    assert len(used) >= 2, "need two partitions with data for this test"

    # The consumer had handled the first 3 messages of one partition and 7 of another;
    # for the remaining partitions nothing is stored, so they start from the beginning.
    stored = {used[0]: 3, used[1]: 7}
    await offsets_pool.executemany(
        "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) VALUES ($1, $2, $3, $4)",
        [(group, topic, p, o) for p, o in stored.items()],
    )
    # Kafka's own committed offsets say "all done": they must not be what the group resumes from.
    committer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await committer.start()
    try:
        committer.assign([TopicPartition(topic, p) for p in ends])
        await committer.commit({TopicPartition(topic, p): end for p, end in ends.items()})
    finally:
        await committer.stop()

    expected = {(m.partition, m.offset) for m in everything if m.offset >= stored.get(m.partition, 0)}
    second = bus.subscribe(group, [topic], offsets_pool)
    await second.start()
    try:
        resumed = await collect(second, len(expected))
        # Nothing before the stored offsets comes after them either.
        resumed += await second.fetch(timeout=1.0)
    finally:
        await second.stop()
    assert {(m.partition, m.offset) for m in resumed} == expected
    assert len(resumed) == len(expected)


async def test_a_thousand_records_are_acknowledged(bus: KafkaBus, topic: str, kafka_bootstrap: str) -> None:
    await bus.publish([record(topic, f"resident-{i % 97}", i) for i in range(1000)], timeout=30)

    probe = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap)
    await probe.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = await probe.end_offsets(partitions)
    finally:
        await probe.stop()
    assert sum(ends.values()) == 1000


async def test_publish_of_nothing_is_a_no_op(bus: KafkaBus, kafka_bootstrap: str) -> None:
    async def broker_contents() -> dict[TopicPartition, int]:
        probe = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap)
        await probe.start()
        try:
            topics = await probe.topics()
            partitions = [TopicPartition(t, p) for t in topics for p in probe.partitions_for_topic(t) or ()]
            ends: dict[TopicPartition, int] = await probe.end_offsets(partitions)
            return ends
        finally:
            await probe.stop()

    before = await broker_contents()
    await bus.publish([])
    await KafkaBus(kafka_bootstrap).publish([])  # not even a started producer is needed
    assert await broker_contents() == before  # no topic created, no record written


def test_fetches_are_paced_only_while_the_rate_is_high() -> None:
    now = [0.0]
    pacing = FetchPacing(clock=lambda: now[0])
    now[0] = 0.5
    assert not pacing.fetched(500), "no decision before a whole window"
    now[0] = 1.0
    assert pacing.fetched(0)  # 500 records in 1 s
    now[0] = 2.0
    assert not pacing.fetched(int(PACED_ABOVE)), "the threshold itself is not above it"
    now[0] = 3.0
    assert pacing.fetched(int(PACED_ABOVE) + 1)
    now[0] = 3.5
    assert pacing.fetched(0), "the pacing holds for the window"
    now[0] = 4.0
    assert not pacing.fetched(1), "a lone message ends the pacing after one window"


async def test_aiokafkas_fetcher_still_builds_each_fetch_request_from_the_attributes_pace_sets() -> None:
    """`pace` writes private attributes of aiokafka's fetcher: if aiokafka renames them or stops
    reading them for every request, pacing would silently do nothing."""
    built = inspect.getsource(Fetcher._get_actions_per_node)
    assert "self._fetch_min_bytes" in built and "self._fetch_max_wait_ms" in built
    assert "self._fetcher = Fetcher(" in inspect.getsource(AIOKafkaConsumer.start)
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9")  # never started: no connection
    consumer._fetcher = Fetcher.__new__(Fetcher)
    pace(consumer, True)
    assert (consumer._fetcher._fetch_min_bytes, consumer._fetcher._fetch_max_wait_ms) == (
        PACED_MIN_BYTES,
        PACED_MAX_WAIT_MS,
    )
    pace(consumer, False)
    assert (consumer._fetcher._fetch_min_bytes, consumer._fetcher._fetch_max_wait_ms) == (1, 500)
