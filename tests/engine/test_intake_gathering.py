"""How long the intake lets alerts gather between batches: never on a quiet system, as
long as before (30 ms) when it is briefly behind, longer in a sustained storm, at most a
tenth of a second."""

from __future__ import annotations

from bot.engine.intake.worker import GATHER_MAX_S, GATHER_MIN_S, gathering_s


def test_a_quiet_system_never_waits() -> None:
    """Batches of one alert, or a handful, are followed at once."""
    assert [gathering_s(n) for n in (0, 1, 5, 15)] == [0.0, 0.0, 0.0, 0.0]


def test_a_system_briefly_behind_waits_the_least() -> None:
    """A batch of a few dozen (new incidents arriving faster than a busy core takes them):
    the shortest wait, 30 ms."""
    assert gathering_s(16) == gathering_s(60) == GATHER_MIN_S == 0.03


def test_a_sustained_storm_gathers_longer_up_to_a_tenth_of_a_second() -> None:
    """Hundreds of alerts per batch: the wait grows with the batch to its bound."""
    assert GATHER_MIN_S < gathering_s(100) < gathering_s(150) < GATHER_MAX_S
    assert gathering_s(200) == gathering_s(500) == GATHER_MAX_S == 0.1
