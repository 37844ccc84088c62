"""The in-flight body budget (``server.max_inflight_bytes``): whatever requests take, wait
for, give up on and give back, it never hands out more than it has, never loses bytes,
keeps nobody waiting whose body fits, and never holds a small body behind a big one."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from bot.http.limits import Budget

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


Waiting = list[tuple[asyncio.Task[int], int]]  # (the take, the bytes it asked for)


async def _settle(budget: Budget, held: list[int], waiting: Waiting) -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    held.extend(t.result() for t, _ in waiting if t.done() and not t.cancelled())
    waiting[:] = [(t, size) for t, size in waiting if not t.done()]
    assert budget.reserved == sum(held)
    assert 0 <= budget.reserved <= MAX
    free = MAX - budget.reserved
    assert all(min(size, MAX) > free for _, size in waiting), "a body that fits still waits"


async def _replay(ops: list[tuple[str, int]]) -> None:
    budget = Budget(MAX)
    held: list[int] = []  # bytes each holder took
    waiting: Waiting = []
    for op, size in [*ops, ("settle", 0)]:
        if op == "take":
            waiting.append((asyncio.create_task(budget.take(size)), size))
        elif op == "give_back" and held:
            budget.give_back(held.pop(0))
        elif op == "give_up":
            undecided = [t for t, _ in waiting if not t.cancelled()]
            if undecided:
                undecided[0].cancel()
        elif op == "settle":
            await _settle(budget, held, waiting)
    for task, _ in waiting:
        task.cancel()
    await asyncio.gather(*(t for t, _ in waiting), return_exceptions=True)
    for size in held:
        budget.give_back(size)
    assert budget.reserved == 0


@given(ops=OPS)
def test_the_budget_never_overflows_leaks_or_keeps_a_fitting_body_waiting(
    ops: list[tuple[str, int]],
) -> None:
    """Any sequence of takes, give-backs and give-ups: reserved bytes are exactly what the
    holders took, within the budget; nobody still waits whose body would fit; all of it
    comes back."""
    asyncio.run(_replay(ops))


async def test_a_small_body_is_not_held_behind_a_big_waiter() -> None:
    """While a big body waits for room, a small one that fits goes at once; the big one
    gets in when enough comes back."""
    budget = Budget(MAX)
    first = await budget.take(60)
    big = asyncio.create_task(budget.take(80))
    await asyncio.sleep(0)
    assert budget.try_take(10) == 10
    budget.give_back(first)
    assert not big.done()
    budget.give_back(10)
    assert await big == 80
    assert budget.reserved == 80
