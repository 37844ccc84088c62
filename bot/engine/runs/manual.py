"""A human starts a playbook on an incident (``/incident run``, the API, the console)."""

from __future__ import annotations

from typing import Any

from bot.engine.deps import EngineDeps
from bot.engine.runs.template_context import template_context
from bot.errors import DecisionRefused
from bot.models import Identity
from bot.playbooks.playbook import Playbook
from bot.playbooks.templates import TemplateError, render_value
from bot.store import incidents as incident_store
from bot.store import runs as run_store
from bot.store.audit import record_event


async def create_manual_run(
    deps: EngineDeps, incident_seq: int, playbook: Playbook, who: Identity, params: dict[str, Any]
) -> int:
    """Commit a new run of ``playbook`` started by ``who``; returns the run (not yet driven).
    Its target renders from the incident's first alert's labels, overridden by ``params``."""
    user = who.user
    now = deps.clock.now()
    async with deps.db.begin() as conn:
        incident = await incident_store.get_incident(conn, incident_seq)
        if incident is None:
            raise DecisionRefused("not_found", f"no incident INC-{incident_seq}")
        target = None
        if playbook.spec.target is not None:
            labels = {**await incident_store.first_alert_labels(conn, incident_seq), **params}
            context = template_context(
                alert=None, incident=incident.as_context(), now=now, params=params
            )
            context["labels"] = context["alert"]["labels"] = labels
            try:
                target = render_value(playbook.spec.target, context)
            except TemplateError as err:
                raise DecisionRefused(
                    "invalid", f"target of {playbook.name}: {err} (give it as a param)"
                ) from err
        run_seq = await run_store.create_run(
            conn,
            incident_seq=incident_seq,
            playbook=playbook.name,
            target=target,
            started_by=user,
            params=params,
            trigger_alert_id=None,
            at=now,
        )
        await record_event(
            conn,
            at=now,
            actor=user,
            kind="run.created",
            incident_seq=incident_seq,
            text=f"RUN-{run_seq} {playbook.name} started by {user}",
            detail={"run": run_seq, "via": who.via.value},
        )
    return run_seq
