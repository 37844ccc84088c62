"""The inbox integrations' webhooks journal their events into (``bot.plugins.inbox_of``)."""

from __future__ import annotations

from bot.actions.hooks import InboundEvent
from bot.config import Settings
from bot.errors import StoreError
from bot.http.errors import ErrorCode, HttpError
from bot.runtime import Runtime
from bot.store.inbound_events import journal_event


class RuntimeInbox:
    """Journals inbound events in the store and wakes intake to map them."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    @property
    def settings(self) -> Settings:
        """The running configuration."""
        return self._runtime.settings

    async def journal(self, source: str, event: InboundEvent) -> bool:
        """Commit the event; False when delivered before; 503 when the store cannot commit."""
        runtime = self._runtime
        try:
            async with runtime.db.begin() as conn:
                new = await journal_event(
                    conn,
                    source=source,
                    event_id=event.event_id,
                    delivery_id=event.delivery_id,
                    event_type=event.event_type,
                    payload=dict(event.payload),
                    at=runtime.intake.now(),
                )
        except StoreError as err:
            raise HttpError(ErrorCode.UNAVAILABLE, "the store could not commit") from err
        if new is not None:
            runtime.intake.event_journaled(new)
        return new is not None
