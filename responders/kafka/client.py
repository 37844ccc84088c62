"""Read a consumer group's lag from Kafka with aiokafka.

Committed offsets come from the admin client (``list_consumer_group_offsets``), end offsets
from a group-less consumer (``end_offsets``); lag = end - committed per partition. Offsets
are always asked for explicit partitions (every partition of the topic, or of every topic):
Kafka brokers answer "all partitions" too, but not every Kafka-protocol broker does (Tansu
0.6 drops the connection), and explicit partitions cost one request either way.

Errors: a broker that cannot be reached or does not answer within ``timeout_s`` is a
RetryableError naming the servers; a group with no committed offsets (unknown to Kafka) or
an unknown topic is a PermanentError. An unknown group is an error, not a lag of 0: the
alert said it lags, and "0" would read as "no backlog".
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from bot.errors import PermanentError, RetryableError
from responders.kafka.const import CLIENT_ID, INTERNAL_TOPIC_PREFIX, TIMEOUT_S


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """How far a group is behind on one partition."""

    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        """Messages not consumed yet (never negative)."""
        return max(self.end - self.committed, 0)


class KafkaLagReader:
    """Reads consumer-group lag from the brokers at ``bootstrap_servers`` (comma-separated);
    each reading opens its own connections and closes them."""

    def __init__(self, bootstrap_servers: str, *, timeout_s: float = TIMEOUT_S) -> None:
        self.bootstrap_servers = bootstrap_servers
        self._timeout_s = timeout_s

    async def lag(self, group: str, topic: str | None = None) -> list[PartitionLag]:
        """Lag of ``group`` on every partition it committed an offset for (on ``topic``
        only, unless None), sorted by topic and partition."""
        aiokafka = await asyncio.to_thread(_load_aiokafka)
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._read(aiokafka, group, topic)
        except TimeoutError as err:
            raise RetryableError(
                f"Kafka at {self.bootstrap_servers} did not answer within {self._timeout_s:g} s"
            ) from err
        except aiokafka.errors.KafkaError as err:
            text = str(err) or type(err).__name__
            if err.retriable:
                raise RetryableError(
                    f"cannot reach Kafka at {self.bootstrap_servers}: {text}"
                ) from err
            raise PermanentError(f"Kafka refused to give the lag of {group}: {text}") from err

    async def _read(
        self, aiokafka: ModuleType, group: str, topic: str | None
    ) -> list[PartitionLag]:
        async with self._consumer(aiokafka) as consumer, self._admin(aiokafka) as admin:
            topics = await consumer.topics()
            if topic is not None and topic not in topics:
                raise PermanentError(f"Kafka has no topic {topic}")
            wanted = [topic] if topic is not None else sorted(_user_topics(topics))
            partitions = [
                aiokafka.TopicPartition(name, number)
                for name in wanted
                for number in sorted(consumer.partitions_for_topic(name) or ())
            ]
            committed = {}
            if partitions:
                offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
                committed = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
            if not committed:
                where = f" on topic {topic}" if topic is not None else ""
                raise PermanentError(
                    f"consumer group {group} has no committed offsets{where} "
                    "(Kafka does not know the group, or it never committed)"
                )
            ends = await consumer.end_offsets(list(committed))
        return sorted(
            (
                PartitionLag(tp.topic, tp.partition, offset, ends[tp])
                for tp, offset in committed.items()
            ),
            key=lambda p: (p.topic, p.partition),
        )

    @contextlib.asynccontextmanager
    async def _consumer(self, aiokafka: ModuleType) -> AsyncIterator[Any]:
        consumer = aiokafka.AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=CLIENT_ID,
            group_id=None,
            enable_auto_commit=False,
            request_timeout_ms=int(self._timeout_s * 1000),
        )
        try:
            await consumer.start()
            yield consumer
        finally:
            await consumer.stop()

    @contextlib.asynccontextmanager
    async def _admin(self, aiokafka: ModuleType) -> AsyncIterator[Any]:
        admin = aiokafka.admin.AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers,
            client_id=CLIENT_ID,
            request_timeout_ms=int(self._timeout_s * 1000),
        )
        try:
            await admin.start()
            yield admin
        finally:
            await admin.close()


def _user_topics(topics: Iterable[str]) -> set[str]:
    return {name for name in topics if not name.startswith(INTERNAL_TOPIC_PREFIX)}


def _load_aiokafka() -> ModuleType:
    """aiokafka with its ``admin`` and ``errors`` modules: imported on first use, in a
    thread (it is heavy, and `medic check` should not pay for it)."""
    for submodule in ("aiokafka.admin", "aiokafka.errors"):
        importlib.import_module(submodule)
    return importlib.import_module("aiokafka")
