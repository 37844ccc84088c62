"""queue-backlog for real (PLAYBOOKS.md): the consumer group's lag is read from a real
Kafka-protocol broker, the consumer deployment doubles (capped at 20) when the 60 s veto
passes, and the lag's slope verifies it."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from cataloguekit import Catalogue
from harness.kafka import TansuBroker

NS, DEPLOY = "production", "dwcp-workers"
VETO = timedelta(seconds=60)
_names = itertools.count(1)


async def _backlog(bootstrap: str, produced: int, committed: int) -> tuple[str, str]:
    """A fresh topic and group (the broker lives for the session; the sample's names are
    taken by tests/responders/kafka) with ``produced - committed`` messages of lag."""
    suffix = f"{next(_names)}-{time.monotonic_ns()}"
    topic, group = f"dwcp-tasks-{suffix}", f"dwcp-workers-{suffix}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for index in range(produced):
            await producer.send_and_wait(topic, f"task-{index}".encode(), partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): committed})
    finally:
        await consumer.stop()
    return topic, group


async def _replicas(catalogue: Catalogue) -> int:
    found = await catalogue.get_deployment(NS, DEPLOY)
    return int(found["spec"]["replicas"])


async def test_backlog_doubles_the_consumers_after_the_veto(
    catalogue: Catalogue, kafka_broker: TansuBroker
) -> None:
    """Lag 12 read from Kafka; the veto passes; dwcp-workers goes 3 → 6; the lag's slope
    (queried with the group quoted) is negative, so the run succeeds."""
    topic, group = await _backlog(kafka_broker.bootstrap, 15, 3)
    await catalogue.deployment(NS, DEPLOY, "dwcp-workers:5.1", replicas=3)
    catalogue.prometheus.script("kafka_consumergroup_lag", -4.0)
    await catalogue.start(kafka=kafka_broker.bootstrap)
    await catalogue.fire("message-queue-backlog", consumergroup=group, topic=topic)
    await catalogue.let_veto_pass("approve", VETO)
    await catalogue.run_end("succeeded")

    assert await _replicas(catalogue) == 6
    steps = await catalogue.steps()
    assert steps["lag"][1]["total_lag"] == 12
    assert steps["scale"][1]["capped"] is False
    assert catalogue.prometheus.asked(f'kafka_consumergroup_lag{{consumergroup="{group}"}}[5m]')


async def test_scale_out_is_capped_at_twenty(
    catalogue: Catalogue, kafka_broker: TansuBroker
) -> None:
    """At 12 replicas doubling would give 24: the deployment gets 20 and the output says it
    was capped."""
    topic, group = await _backlog(kafka_broker.bootstrap, 4, 1)
    await catalogue.deployment(NS, DEPLOY, "dwcp-workers:5.1", replicas=12)
    catalogue.prometheus.script("kafka_consumergroup_lag", -1.0)
    await catalogue.start(kafka=kafka_broker.bootstrap)
    await catalogue.fire("message-queue-backlog", consumergroup=group, topic=topic)
    await catalogue.let_veto_pass("approve", VETO)
    await catalogue.run_end("succeeded")

    assert await _replicas(catalogue) == 20
    scale = (await catalogue.steps())["scale"][1]
    assert (scale["requested"], scale["capped"], scale["after"]["replicas"]) == (24, True, 20)
