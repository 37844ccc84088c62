"""``kafka.*`` actions. Their ``run`` arrives with the Kafka responder's own issue; until then
the engine records dry runs from the ``describe_*`` sentences."""

from __future__ import annotations

from bot.actions.contract import ActionKind, StepContext, StepResult
from bot.actions.registry import action
from responders.common import not_built
from responders.kafka.const import SYSTEM
from responders.kafka.models import ConsumerLagParams


def describe_consumer_lag(params: ConsumerLagParams) -> str:
    """Dry-run sentence."""
    topic = f"topic {params.topic}" if params.topic else "every topic it consumes"
    return f"would read the lag of consumer group {params.group} on {topic}"


@action(
    "kafka.consumer_lag",
    kind=ActionKind.READ,
    integration=SYSTEM,
    describe=describe_consumer_lag,
)
async def consumer_lag(ctx: StepContext, params: ConsumerLagParams) -> StepResult:
    """The group's lag per partition and in total."""
    raise not_built("kafka.consumer_lag", SYSTEM)
