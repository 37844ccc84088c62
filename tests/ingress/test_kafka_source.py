"""Kafka topics as an alert source, on a real Kafka-protocol broker (Tansu): each message an
Alertmanager v4 body; offsets committed after the journal; malformed messages counted and
skipped; a crash between journal and offset commit neither loses nor duplicates."""

from __future__ import annotations

import json
from itertools import count
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from harness.http import get_json
from harness.kafka import TansuBroker
from harness.medic import MedicProcess
from harness.waiting import eventually, wait_until
from medickit import NO_PLAYBOOKS, StartMedic, make_settings
from payloads import am_alert, am_payload

WAIT_S = 30.0
_names = count(1)


async def _topic(bootstrap: str, partitions: int = 1) -> str:
    """A new topic of its own for the test."""
    name = f"alerts-{next(_names)}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


async def _publish(bootstrap: str, topic: str, messages: list[bytes]) -> None:
    """Write ``messages`` to partition 0 of ``topic``, in order."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for message in messages:
            await producer.send_and_wait(topic, message, partition=0)
    finally:
        await producer.stop()


def _webhook(index: int) -> bytes:
    group = f'{{}}:{{alertname="Kafka{index}"}}'
    return json.dumps(
        am_payload(am_alert(f"fp-{index}", alertname=f"Kafka{index}"), group_key=group)
    ).encode()


def _kafka(broker: TansuBroker, topic: str, group: str) -> dict[str, Any]:
    return {"bootstrap_servers": broker.bootstrap, "alert_topics": [topic], "group_id": group}


async def test_alerts_on_a_topic_open_incidents_and_a_malformed_message_is_skipped(
    start_medic: StartMedic, sqlite_url: str, kafka_broker: TansuBroker
) -> None:
    """Bodies published to an alert topic open incidents; a message that is not JSON and
    one that is not an Alertmanager body, between them on the same partition, are counted
    on ``/metrics`` and skipped without blocking the partition."""
    topic = await _topic(kafka_broker.bootstrap)
    await _publish(
        kafka_broker.bootstrap,
        topic,
        [_webhook(1), b"{not json", b'{"version": "4"}', _webhook(2)],
    )
    client = await start_medic(make_settings(sqlite_url, kafka=_kafka(kafka_broker, topic, "g1")))

    async def incidents() -> list[Any]:
        listing = (await (await client.get("/api/incidents")).json())["incidents"]
        return listing if len(listing) == 2 else []

    listing = await eventually(incidents, WAIT_S, "two incidents from the topic")
    metrics = await (await client.get("/metrics")).text()
    assert sorted(i["title"] for i in listing) == ["Kafka1 is firing", "Kafka2 is firing"]
    assert 'medic_deliveries_rejected_total{reason="invalid_json",source="kafka"} 1.0' in metrics
    assert 'medic_deliveries_rejected_total{reason="invalid_payload",source="kafka"} 1.0' in metrics


def _alert_total(medic: MedicProcess) -> int:
    return sum(i["alert_count"] for i in get_json(f"{medic.url}/api/incidents")["incidents"])


def test_kill_9_and_a_replay_of_journaled_messages_lose_and_duplicate_nothing(
    postgres_url: str, kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    """``medic serve`` killed (-9) once it has journaled alerts from a topic restarts with
    every alert exactly once. Then a process in a group with no committed offset reads the
    whole topic again (what a kill between the journal commit and the offset commit leaves,
    in its widest form: everything journaled, nothing committed): every message is taken
    as a duplicate and the incidents stay exactly as they were."""
    import asyncio  # noqa: PLC0415 -- this test is synchronous; only the Kafka setup is async

    topic = asyncio.run(_topic(kafka_broker.bootstrap))
    asyncio.run(_publish(kafka_broker.bootstrap, topic, [_webhook(i) for i in range(300)]))
    env = {
        "MEDIC_KAFKA__BOOTSTRAP_SERVERS": kafka_broker.bootstrap,
        "MEDIC_KAFKA__ALERT_TOPICS": json.dumps([topic]),
        "MEDIC_KAFKA__GROUP_ID": "crash",
        "MEDIC_PLAYBOOKS__DIRS": json.dumps([str(NO_PLAYBOOKS)]),
    }
    medic = MedicProcess(tmp_path, store_url=postgres_url, bearer_token=None, extra_env=env)
    medic.start()
    try:
        wait_until(lambda: _alert_total(medic) > 0, WAIT_S, "the first journaled alerts")
        medic.kill()
        medic.start()
        wait_until(lambda: _alert_total(medic) == 300, WAIT_S, "every alert after the restart")
    finally:
        medic.stop()
    medic.extra_env["MEDIC_KAFKA__GROUP_ID"] = "replay"
    with medic.start():
        wait_until(
            lambda: medic.metric("medic_alerts_duplicate_total", source="kafka") == 300,
            WAIT_S,
            "the whole topic read again, as duplicates",
        )
        listing = get_json(f"{medic.url}/api/incidents")["incidents"]
    assert (len(listing), sum(i["alert_count"] for i in listing)) == (300, 300)
