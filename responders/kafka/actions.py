"""``kafka.consumer_lag``: a consumer group's lag as evidence."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bot.actions.contract import ActionKind, StepContext, StepResult
from bot.actions.registry import action
from bot.errors import PermanentError
from responders.kafka.client import KafkaLagReader, PartitionLag
from responders.kafka.const import SYSTEM
from responders.kafka.models import ConsumerLagOutput, ConsumerLagParams


def describe_consumer_lag(params: ConsumerLagParams) -> str:
    """Dry-run sentence."""
    topic = f"topic {params.topic}" if params.topic else "every topic it consumes"
    return f"would read the lag of consumer group {params.group} on {topic}"


def reader_for(ctx: StepContext) -> KafkaLagReader:
    """The shared reader, else one for ``kafka.bootstrap_servers``; PermanentError if unset."""
    shared = ctx.clients.get(SYSTEM)
    if isinstance(shared, KafkaLagReader):
        return shared
    servers = ctx.settings.kafka.bootstrap_servers
    if not servers:
        raise PermanentError("kafka.bootstrap_servers is not set")
    return KafkaLagReader(servers)


def lag_output(params: ConsumerLagParams, lags: list[PartitionLag]) -> dict[str, Any]:
    """``total_lag``, the lag per topic and per partition (committed and end offsets)."""
    per_topic: defaultdict[str, int] = defaultdict(int)
    for item in lags:
        per_topic[item.topic] += item.lag
    return {
        "group": params.group,
        "topic": params.topic,
        "total_lag": sum(per_topic.values()),
        "topics": dict(sorted(per_topic.items())),
        "partitions": [
            {
                "topic": item.topic,
                "partition": item.partition,
                "committed": item.committed,
                "end": item.end,
                "lag": item.lag,
            }
            for item in lags
        ],
    }


@action(
    "kafka.consumer_lag",
    kind=ActionKind.READ,
    integration=SYSTEM,
    describe=describe_consumer_lag,
    output=ConsumerLagOutput,
)
async def consumer_lag(ctx: StepContext, params: ConsumerLagParams) -> StepResult:
    """The group's lag per partition, per topic and in total."""
    output = lag_output(params, await reader_for(ctx).lag(params.group, params.topic))
    topics = ", ".join(f"{name}: {lag}" for name, lag in output["topics"].items())
    count = len(output["partitions"])
    return StepResult(
        output=output,
        summary=(
            f"consumer group {params.group} lags {output['total_lag']} messages "
            f"({topics}; {count} partition{'s' if count != 1 else ''})"
        ),
    )
