"""How long the intake lets alerts gather between batches: never on a quiet system, a few
milliseconds after a burst, at most a tenth of a second in a sustained storm."""

from __future__ import annotations

from bot.engine.intake.worker import GATHER_MAX_S, gathering_s


def test_a_quiet_system_never_waits() -> None:
    """Batches of one alert, or a handful, are followed at once."""
    assert [gathering_s(n) for n in (0, 1, 5, 15)] == [0.0, 0.0, 0.0, 0.0]


def test_a_burst_waits_in_proportion_to_its_size() -> None:
    """Fifty alerts at once (a node failing under fifty deployments): the next batch waits
    a few milliseconds, not a storm's full gathering time, so the burst's last incidents
    start their runs soon after its first."""
    assert 0.0 < gathering_s(16) < gathering_s(50) <= 0.03


def test_a_sustained_storm_gathers_at_most_a_tenth_of_a_second() -> None:
    """Hundreds of alerts per batch: the wait grows to its bound and no further."""
    assert gathering_s(200) == gathering_s(500) == GATHER_MAX_S == 0.1
