"""Two ``medic serve`` replicas in one Kafka consumer group on a multi-partition alert topic
(the Tansu broker): the group spreads the partitions over both, both consume, and every
alert is taken once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from harness.http import get_json
from harness.kafka import TansuBroker
from harness.medic import MedicProcess
from harness.waiting import eventually, wait_until
from payloads import am_alert, am_payload
from replicakit import replica_env, replicas

PARTITIONS = 4
MESSAGES = 40
GROUP = "medic-replicas"
WAIT_S = 60.0


def _webhook(index: int) -> bytes:
    name = f"Spread{index}"
    payload = am_payload(am_alert(f"fp-{index}", alertname=name), group_key=f"{{}}:{{{name}}}")
    return json.dumps(payload).encode()


async def _create_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1)])
    finally:
        await admin.close()


async def _group_of_two(bootstrap: str) -> None:
    """Wait until the consumer group is stable with two members (partitions assigned)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()

    async def stable_with_two() -> bool:
        (described,) = await admin.describe_consumer_groups([GROUP])
        (group,) = described.groups
        state, members = group[2], group[5]
        return bool(state == "Stable" and len(members) == 2)

    try:
        await eventually(stable_with_two, WAIT_S, "a stable group of two replicas")
    finally:
        await admin.close()


async def _publish(bootstrap: str, topic: str) -> None:
    """Message i to partition i mod PARTITIONS."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for i in range(MESSAGES):
            await producer.send_and_wait(topic, _webhook(i), partition=i % PARTITIONS)
    finally:
        await producer.stop()


def _incidents(server: MedicProcess) -> list[dict[str, Any]]:
    listing: list[dict[str, Any]] = get_json(f"{server.url}/api/incidents")["incidents"]
    return listing


def test_the_consumer_group_spreads_partitions_over_two_replicas(
    postgres_url: str, kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    """Forty alerts over four partitions, consumed by two replicas in one group: each
    replica takes some of them (the partitions are split), the incidents hold every alert
    exactly once, and nothing was read twice."""
    topic = "alerts-spread"
    asyncio.run(_create_topic(kafka_broker.bootstrap, topic))
    env = replica_env(
        MEDIC_KAFKA__BOOTSTRAP_SERVERS=kafka_broker.bootstrap,
        MEDIC_KAFKA__ALERT_TOPICS=json.dumps([topic]),
        MEDIC_KAFKA__GROUP_ID=GROUP,
    )
    with replicas(tmp_path, postgres_url, 2, env) as servers:
        asyncio.run(_group_of_two(kafka_broker.bootstrap))
        asyncio.run(_publish(kafka_broker.bootstrap, topic))
        listing = wait_until(
            lambda: (found := _incidents(servers[0])) and len(found) == MESSAGES and found,
            WAIT_S,
            "forty incidents",
        )
        received = [s.metric("medic_alerts_received_total", source="kafka") for s in servers]
        duplicates = [s.metric("medic_alerts_duplicate_total", source="kafka") for s in servers]
    assert sorted(i["title"] for i in listing) == sorted(
        f"Spread{i} is firing" for i in range(MESSAGES)
    )
    assert [i["alert_count"] for i in listing] == [1] * MESSAGES
    assert all(count > 0 for count in received), received
    assert (sum(received), sum(duplicates)) == (MESSAGES, 0)
