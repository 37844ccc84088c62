"""``kafka.consumer_lag`` against a real Kafka-protocol broker (Tansu): messages produced,
offsets committed for a group, the lag read back per partition, per topic and in total."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bot.actions.contract import StepContext
from bot.config import Settings
from bot.errors import PermanentError, RetryableError
from responders.kafka.actions import consumer_lag
from responders.kafka.client import KafkaLagReader
from responders.kafka.models import ConsumerLagParams

from enginekit import RecordingNarrator, detail
from harness.kafka import TansuBroker
from harness.ports import free_port
from medickit import StartMedic, bearer, make_settings
from payloads import sample

CATALOGUE = Path(__file__).resolve().parents[3] / "playbooks" / "dwcp"

PARTITIONS = 3
_names = itertools.count(1)


def unique(prefix: str) -> str:
    """A topic or group name no other test uses (the broker lives for the session)."""
    return f"{prefix}-{next(_names)}-{time.monotonic_ns()}"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """The engine's shared session (unused by Kafka, part of every step context)."""
    async with aiohttp.ClientSession() as session:
        yield session


def context(http: aiohttp.ClientSession, bootstrap: str) -> StepContext:
    """A step context whose settings point at ``bootstrap``."""
    return StepContext(
        settings=Settings(kafka={"bootstrap_servers": bootstrap}),
        http=http,
        incident_id="INC-1",
        run_id="RUN-1",
        step_id="lag",
        target="deployment/dwcp/dwcp-workers",
        dry_run=False,
        now=lambda: datetime.now(UTC),
    )


async def produce(bootstrap: str, topic: str, per_partition: list[int]) -> None:
    """Create ``topic`` with one partition per entry and write that many messages to each."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, len(per_partition), 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for partition, count in enumerate(per_partition):
            for index in range(count):
                await producer.send_and_wait(topic, f"m{index}".encode(), partition=partition)
    finally:
        await producer.stop()


async def commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit ``offsets`` for ``group`` as a consumer with manual assignment would."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def test_lag_is_end_minus_committed_per_partition_and_in_total(
    kafka_broker: TansuBroker, http: aiohttp.ClientSession
) -> None:
    """10, 7 and 4 messages on three partitions, the group committed 2, 7 and 0: the lag is
    8, 0 and 4, 12 in total, and the summary says so."""
    topic, group = unique("orders"), unique("workers")
    await produce(kafka_broker.bootstrap, topic, [10, 7, 4])
    await commit(
        kafka_broker.bootstrap,
        group,
        {TopicPartition(topic, 0): 2, TopicPartition(topic, 1): 7, TopicPartition(topic, 2): 0},
    )
    result = await consumer_lag(
        context(http, kafka_broker.bootstrap), ConsumerLagParams(group=group, topic=topic)
    )
    assert result.output == {
        "group": group,
        "topic": topic,
        "total_lag": 12,
        "topics": {topic: 12},
        "partitions": [
            {"topic": topic, "partition": 0, "committed": 2, "end": 10, "lag": 8},
            {"topic": topic, "partition": 1, "committed": 7, "end": 7, "lag": 0},
            {"topic": topic, "partition": 2, "committed": 0, "end": 4, "lag": 4},
        ],
    }
    assert result.summary == (
        f"consumer group {group} lags 12 messages ({topic}: 12; 3 partitions)"
    )
    assert not result.dry_run


async def test_without_a_topic_every_topic_the_group_committed_on_counts(
    kafka_broker: TansuBroker, http: aiohttp.ClientSession
) -> None:
    """A group consuming two topics (not a third one it never committed on): without
    ``topic`` both count, each with its own lag; with ``topic`` only that one."""
    group = unique("workers")
    orders, payments, other = unique("orders"), unique("payments"), unique("audit")
    await produce(kafka_broker.bootstrap, orders, [5])
    await produce(kafka_broker.bootstrap, payments, [3, 3])
    await produce(kafka_broker.bootstrap, other, [9])
    await commit(
        kafka_broker.bootstrap,
        group,
        {
            TopicPartition(orders, 0): 1,
            TopicPartition(payments, 0): 3,
            TopicPartition(payments, 1): 1,
        },
    )
    ctx = context(http, kafka_broker.bootstrap)
    everything = await consumer_lag(ctx, ConsumerLagParams(group=group))
    assert everything.output["total_lag"] == 6
    assert everything.output["topics"] == {orders: 4, payments: 2}
    assert [(p["topic"], p["partition"]) for p in everything.output["partitions"]] == [
        (orders, 0),
        (payments, 0),
        (payments, 1),
    ]
    one = await consumer_lag(ctx, ConsumerLagParams(group=group, topic=payments))
    assert (one.output["total_lag"], one.output["topics"]) == (2, {payments: 2})


async def test_an_unknown_group_is_an_error_not_a_lag_of_zero(
    kafka_broker: TansuBroker, http: aiohttp.ClientSession
) -> None:
    """A group that never committed (unknown to Kafka) fails the step with PermanentError
    saying so: a lag of 0 would read as "no backlog" while nothing is known."""
    topic, group = unique("orders"), unique("ghosts")
    await produce(kafka_broker.bootstrap, topic, [4])
    ctx = context(http, kafka_broker.bootstrap)
    with pytest.raises(PermanentError, match=f"^consumer group {group} has no committed offsets"):
        await consumer_lag(ctx, ConsumerLagParams(group=group))
    with pytest.raises(PermanentError, match=f"no committed offsets on topic {topic} "):
        await consumer_lag(ctx, ConsumerLagParams(group=group, topic=topic))


async def test_an_unknown_topic_is_an_error(
    kafka_broker: TansuBroker, http: aiohttp.ClientSession
) -> None:
    """Asking for a topic the broker does not have fails with PermanentError naming it."""
    topic = unique("missing")
    with pytest.raises(PermanentError, match=f"^Kafka has no topic {topic}$"):
        await consumer_lag(
            context(http, kafka_broker.bootstrap),
            ConsumerLagParams(group=unique("workers"), topic=topic),
        )


async def test_a_down_broker_fails_fast_and_retryable(http: aiohttp.ClientSession) -> None:
    """Nothing listening at ``bootstrap_servers``: RetryableError naming the servers, well
    within the reading's time limit."""
    bootstrap = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(RetryableError, match=f"^cannot reach Kafka at {bootstrap}: "):
        await consumer_lag(context(http, bootstrap), ConsumerLagParams(group="workers"))
    assert time.monotonic() - started < 10.0


@pytest.fixture
async def mute_broker() -> AsyncIterator[str]:
    """A TCP server that accepts connections and never answers; its ``host:port``."""
    never = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await never.wait()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"127.0.0.1:{port}"
    never.set()
    server.close()
    await server.wait_closed()


async def test_a_broker_that_never_answers_times_out(mute_broker: str) -> None:
    """A server that accepts the connection and never answers: RetryableError once the
    reading's time limit (here 1 s) passes, not a hang."""
    bootstrap = mute_broker
    started = time.monotonic()
    with pytest.raises(RetryableError, match=rf"^Kafka at {bootstrap} did not answer within 1 s$"):
        await KafkaLagReader(bootstrap, timeout_s=1.0).lag("workers")
    assert time.monotonic() - started < 5.0


async def test_queue_backlog_playbook_reads_the_real_lag(
    kafka_broker: TansuBroker, start_medic: StartMedic, sqlite_url: str
) -> None:
    """With ``kafka.bootstrap_servers`` set, the shipped queue-backlog playbook's ``lag`` step
    really reads the sample alert's consumer group (no dry run), and its output is on the
    run's step through ``/api/incidents``."""
    alert = sample("message-queue-backlog")
    labels = alert["alerts"][0]["labels"]
    topic, group = labels["topic"], labels["consumergroup"]
    await produce(kafka_broker.bootstrap, topic, [6, 4])
    await commit(
        kafka_broker.bootstrap, group, {TopicPartition(topic, 0): 1, TopicPartition(topic, 1): 4}
    )
    narrator = RecordingNarrator()
    settings = make_settings(
        sqlite_url,
        playbooks={"dirs": [str(CATALOGUE)]},
        kafka={"bootstrap_servers": kafka_broker.bootstrap},
    )
    client = await start_medic(settings, narrators=[narrator])
    response = await client.post("/webhooks/alertmanager", json=alert, headers=bearer())
    assert response.status == 200
    finished = await narrator.wait_for("step_finished", lambda e: e.step_id == "lag")
    assert (finished.status, finished.dry_run) == ("succeeded", False)
    (run,) = (await detail(client))["runs"]
    step = run["steps"][0]
    assert (step["id"], step["dry_run"]) == ("lag", False)
    assert step["output"]["total_lag"] == 5
    assert step["output"]["topics"] == {topic: 5}
