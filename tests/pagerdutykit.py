"""A fake PagerDuty for tests (a pytest plugin, see ``conftest.pytest_plugins``): the
credentials it knows and the fixtures that start it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fakes.pagerduty import FakePagerDuty

PD_TOKEN = "pd-api-token-5b7d2e90"
"""The REST API token the fake accepts."""
ROUTING_KEY = "R0UT1NGKEY00000000000000000000d4"
"""The default Events API routing key the fake knows."""
SECURITY_KEY = "R0UT1NGKEY00000000000000000000e5"
"""A second routing key the fake knows (the security service's)."""


@pytest.fixture
def fake_pagerduty() -> FakePagerDuty:
    """The fake (Events and REST APIs, over TLS), its CA and certificate made outside the
    event loop; not listening yet."""
    return FakePagerDuty(api_token=PD_TOKEN, routing_keys=[ROUTING_KEY, SECURITY_KEY])


@pytest.fixture
async def pagerduty(fake_pagerduty: FakePagerDuty) -> AsyncIterator[FakePagerDuty]:
    """The fake, listening."""
    await fake_pagerduty.start()
    yield fake_pagerduty
    await fake_pagerduty.close()
