"""Kafka topics as an alert source (``kafka.alert_topics``, ``kafka.group_id``).

Each message is one Alertmanager v4 body. Messages are journaled through the same committer
as the webhook, and a partition's offset is committed only once the journal commit of every
message before it is durable: a crash in between re-reads those messages, and the journal's
dedup (source, fingerprint, startsAt, status) makes the second reading a no-op — at least
once from Kafka, exactly once in effect. A malformed message is counted
(``medic_deliveries_rejected{source="kafka"}``), logged and skipped (its offset committed),
so it never blocks its partition. Replicas join one consumer group: Kafka spreads the
partitions over them.
"""

from __future__ import annotations

import asyncio
import importlib
from types import ModuleType
from typing import Any

import structlog

from bot.config.models import KafkaConfig
from bot.errors import StoreUnavailable
from bot.http.body import validate_json
from bot.http.errors import HttpError
from bot.ingress.alertmanager_models import AlertmanagerWebhook
from bot.metrics import Metrics
from bot.store.committer import AlertCommitter
from bot.tasks import BackgroundService

log = structlog.get_logger(__name__)

SOURCE = "kafka"
CLIENT_ID = "medic-alerts"
POLL_MS = 500
MAX_RECORDS = 500
RETRY_S = 1.0
# Group membership: a replica that dies loses its partitions to the others this long after
# its last heartbeat.
SESSION_TIMEOUT_MS = 6_000
HEARTBEAT_MS = 1_000


def _load_aiokafka() -> ModuleType:
    """Import aiokafka (heavy: first use, in a worker thread)."""
    return importlib.import_module("aiokafka")


class KafkaAlertSource(BackgroundService):
    """One consumer in group ``kafka.group_id`` on ``kafka.alert_topics``: it joins the group
    and consumes in the background (the broker may still be down); when stopped it leaves the
    group (offsets already committed stay, the rest is read again)."""

    task_name = "kafka-alert-source"

    def __init__(self, config: KafkaConfig, committer: AlertCommitter, metrics: Metrics) -> None:
        super().__init__()
        self._config = config
        self._committer = committer
        self._metrics = metrics

    async def _run(self) -> None:
        aiokafka = await asyncio.to_thread(_load_aiokafka)
        while True:
            consumer = aiokafka.AIOKafkaConsumer(
                *self._config.alert_topics,
                bootstrap_servers=self._config.bootstrap_servers,
                group_id=self._config.group_id,
                client_id=CLIENT_ID,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=SESSION_TIMEOUT_MS,
                heartbeat_interval_ms=HEARTBEAT_MS,
            )
            try:
                await consumer.start()
                log.info("kafka.consuming", topics=self._config.alert_topics)
                while True:
                    batches = await consumer.getmany(timeout_ms=POLL_MS, max_records=MAX_RECORDS)
                    for partition, records in batches.items():
                        await self._take(consumer, aiokafka, partition, records)
            except (aiokafka.errors.KafkaError, StoreUnavailable, OSError) as err:
                log.warning("kafka.retrying", error=type(err).__name__, detail=str(err))
            finally:
                await consumer.stop()
            await asyncio.sleep(RETRY_S)

    async def _take(
        self, consumer: Any, aiokafka: ModuleType, partition: Any, records: list[Any]
    ) -> None:
        """Journal a partition's records in order, then commit the offset after the last."""
        alerts = []
        for record in records:
            try:
                webhook = validate_json(AlertmanagerWebhook, record.value or b"")
            except HttpError as err:
                self._metrics.deliveries_rejected.labels(SOURCE, err.code.value).inc()
                log.warning(
                    "kafka.message_skipped",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    reason=err.code.value,
                    detail=err.detail,
                )
                continue
            alerts.extend(webhook.to_alerts())
        if alerts:
            self._metrics.received(SOURCE, len(alerts))
            result = await self._committer.submit(alerts)
            self._metrics.committed(SOURCE, result.duplicates)
        offsets = {partition: aiokafka.structs.OffsetAndMetadata(records[-1].offset + 1, "")}
        await consumer.commit(offsets)
