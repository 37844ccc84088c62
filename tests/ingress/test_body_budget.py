"""The in-flight body budget (``server.max_inflight_bytes``): whatever requests take, wait
for, give up on and give back, it never hands out more than it has, never loses bytes, and
serves waiting requests in arrival order."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from bot.http.limits import BodyBudget

MAX = 100
# take n bytes (a new request), give back the oldest holder's bytes, let the oldest waiter
# give up (its header timeout), or let the event loop run (granted waiters resume); what
# happens between two "settle"s happens in one tick, so a waiter may give up just as it was
# granted.
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("take"), st.integers(1, 2 * MAX)),
        st.tuples(st.sampled_from(["give_back", "give_up", "settle"]), st.just(0)),
    ),
    max_size=40,
)


async def _settle(budget: BodyBudget, held: list[int], waiting: list[asyncio.Task[int]]) -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    states = ["waits" if not t.done() else "gone" if t.cancelled() else "in" for t in waiting]
    first_waiting = states.index("waits") if "waits" in states else len(states)
    assert "in" not in states[first_waiting:], states  # nobody got in past a waiter
    held.extend(t.result() for t, state in zip(waiting, states, strict=True) if state == "in")
    waiting[:] = [t for t, state in zip(waiting, states, strict=True) if state == "waits"]
    assert budget.reserved == sum(held)
    assert 0 <= budget.reserved <= MAX


async def _replay(ops: list[tuple[str, int]]) -> None:
    budget = BodyBudget(MAX)
    held: list[int] = []  # bytes each holder took
    waiting: list[asyncio.Task[int]] = []
    for op, size in [*ops, ("settle", 0)]:
        if op == "take":
            waiting.append(asyncio.create_task(budget.take(size)))
        elif op == "give_back" and held:
            budget.give_back(held.pop(0))
        elif op == "give_up":
            undecided = [t for t in waiting if not t.cancelled()]
            if undecided:
                undecided[0].cancel()
        elif op == "settle":
            await _settle(budget, held, waiting)
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    for size in held:
        budget.give_back(size)
    assert budget.reserved == 0


@given(ops=OPS)
def test_the_budget_never_overflows_leaks_or_jumps_the_queue(ops: list[tuple[str, int]]) -> None:
    """Any sequence of takes, give-backs and give-ups: reserved bytes are exactly what the
    holders took, within the budget; waiters get in in order; all of it comes back."""
    asyncio.run(_replay(ops))


async def test_a_request_behind_a_waiter_waits_even_if_it_would_fit() -> None:
    """A small body does not overtake a big one already waiting for room."""
    budget = BodyBudget(MAX)
    first = await budget.take(60)
    big = asyncio.create_task(budget.take(80))
    await asyncio.sleep(0)
    assert budget.try_take(10) is None
    budget.give_back(first)
    assert await big == 80
    assert budget.reserved == 80
