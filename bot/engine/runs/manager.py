"""The run manager: one task per active run, taken over from dead replicas and recovered
(:mod:`bot.engine.runs.recovery`), each driven by :mod:`bot.engine.runs.execution`, every
transition committed; runs resume from their last committed step."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from bot.engine.deps import EngineDeps
from bot.engine.intake.after_commit import after_commit
from bot.engine.intake.grouping import IntakeResult
from bot.engine.replicas.lease import Replica, ReplicaHeartbeat
from bot.engine.runs.end import end_run
from bot.engine.runs.execution import RunExecutor
from bot.engine.runs.manual import create_manual_run
from bot.engine.runs.recovery import recover_runs
from bot.engine.runs.slots import LocalSlots, slot_held
from bot.errors import StoreUnavailable
from bot.models import Identity, RunStatus
from bot.playbooks.playbook import Playbook
from bot.store import replicas as replica_store
from bot.tasks import cancel_all

log = structlog.get_logger(__name__)

STORE_RETRY_S = 1.0
STOP_GRACE_S = 20.0


class RunManager:
    """One task per active run, at most ``safety.max_concurrent_runs`` executing at once."""

    def __init__(self, deps: EngineDeps, replica: Replica) -> None:
        self._deps = deps
        self._replica = replica
        self._heartbeat = ReplicaHeartbeat(replica, adopt=self.adopt, lost=self._drop_all)
        self._slots = deps.slots or LocalSlots(deps.settings.safety.max_concurrent_runs)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self.stopping = asyncio.Event()
        self._executor = RunExecutor(deps, self._replica, self.stopping)

    async def start(self) -> None:
        """Take the runs no live replica owns: recover their interrupted steps, resume them;
        from then on, take over the runs of replicas that die."""
        await self._heartbeat.start()

    @property
    def replica(self) -> Replica:
        """This process among the replicas sharing the store."""
        return self._replica

    async def adopt_orphans(self) -> None:
        """Take the runs nobody alive owns now (another replica handed its runs back)."""
        await self._heartbeat.adopt_orphans()

    async def adopt(self, run_seqs: list[int]) -> None:
        """Runs this replica just took over (at start, or from a replica that died)."""
        taken = [seq for seq in run_seqs if seq not in self._tasks]
        for run_seq in await recover_runs(self._deps, taken):
            self.launch(run_seq)

    async def _drop_all(self) -> None:
        """This replica's lease lapsed: its runs may be another's now; stop driving them
        (they are claimed again, and recovered, where they are still free)."""
        await cancel_all(list(self._tasks.values()))
        self._tasks.clear()

    def launch(self, run_seq: int) -> None:
        """Drive ``run_seq`` unless a task already does."""
        task = self._tasks.get(run_seq)
        if task is None or task.done():
            task = asyncio.create_task(self._drive(run_seq), name=f"run-{run_seq}")
            self._tasks[run_seq] = task
            task.add_done_callback(lambda done: self._forget(run_seq, done))

    def _forget(self, run_seq: int, task: asyncio.Task[None]) -> None:
        """A finished run's task is dropped, so the map only holds live runs."""
        if self._tasks.get(run_seq) is task:
            del self._tasks[run_seq]
            self._deps.run_ends.forget(run_seq)
            self._deps.breaker_clear.discard(run_seq)

    def take(self, result: IntakeResult) -> None:
        """Intake committed: its follow-ups, then start the new runs."""
        after_commit(self._deps, result)
        for run_seq in result.new_runs:
            self.launch(run_seq)

    async def idle(self) -> None:
        """Wait until no run task is active (they may be waiting on humans: use with care)."""
        while tasks := [t for t in self._tasks.values() if not t.done()]:
            await asyncio.wait(tasks)

    async def stop(self) -> None:
        """Start no new step; let actions already executing finish and commit (at most
        ``STOP_GRACE_S``); then cancel every run task. Their committed state is what a
        restart resumes from, so a deploy does not leave write steps ``interrupted``."""
        self.stopping.set()
        await self._deps.in_flight.drained(STOP_GRACE_S)
        await cancel_all(list(self._tasks.values()))
        self._tasks.clear()
        await self._heartbeat.stop()

    async def start_manual(
        self, incident_seq: int, playbook: Playbook, who: Identity, params: dict[str, Any]
    ) -> int:
        """A human starts ``playbook`` on an incident (``/incident run``); returns the run."""
        run_seq = await create_manual_run(self._deps, incident_seq, playbook, who, params)
        self.launch(run_seq)
        return run_seq

    async def _drive(self, run_seq: int) -> None:
        structlog.contextvars.bind_contextvars(run=f"RUN-{run_seq}")
        while True:
            try:
                if not await self._claim(run_seq):
                    return  # another live replica drives it
                async with slot_held(self._slots, run_seq):
                    await self._executor.execute(run_seq)
            except asyncio.CancelledError:
                raise
            except StoreUnavailable as err:  # the store is away: resume from what is committed
                log.warning("run.store_unavailable", error=str(err))
                await asyncio.sleep(STORE_RETRY_S)
                continue
            except Exception as err:
                log.exception("run.crashed")  # a bug in one run must not stop the engine
                await end_run(self._deps, run_seq, RunStatus.FAILED, f"{type(err).__name__}: {err}")
            return

    async def _claim(self, run_seq: int) -> bool:
        """Own the run (created here, or handed back) unless a live replica does."""
        async with self._deps.db.begin() as conn:
            return await replica_store.claim_run(
                conn, self._replica.id, run_seq, self._replica.alive_since()
            )
