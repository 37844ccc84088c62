"""The synchronous ``pagerduty`` library, set up for Medic: one attempt per call, Medic's TLS.

Medic owns retries (``responders.pagerduty.retry``): its waits are ``asyncio.sleep`` on the
loop, bounded, cancellable and honour ``Retry-After``. So each library client sends a request
once and hands back whatever PagerDuty answered. Every method here blocks: call it in a worker
thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import logging
import ssl
import threading

from pagerduty import ApiClient, EventsApiV2Client, RestApiV2Client

_LOG = logging.getLogger("responders.pagerduty.library")
# The library logs its own retry loop (disabled here, so those lines would mislead) and the
# request URLs; Medic logs each attempt itself. A NullHandler keeps Python's last-resort
# handler from printing them to stderr.
_LOG.addHandler(logging.NullHandler())
_LOG.propagate = False


def single_shot(client: ApiClient, timeout_s: float) -> None:
    """Make ``client`` send each request once.

    ``ApiClient.request`` retries a status listed in ``retry`` until ``http_attempts[status]``
    reaches its limit or the sum of attempts exceeds ``max_http_attempts``; a status not listed
    is returned as is, except 429, which it retries forever. Listing 429 and a cap of -1 makes
    the first 429 come back (``0 > -1``); ``max_network_attempts = 0`` makes the first
    transport error raise ``pagerduty.Error``. The client tests count attempts to hold this.
    """
    client.retry = {429: 1}
    client.max_http_attempts = -1
    client.max_network_attempts = 0
    client.timeout = timeout_s  # type: ignore[assignment]  # inferred int from TIMEOUT = 60
    client.log = _LOG


class LibraryClients:
    """The library clients of one process, built on first use (in a worker thread, since
    building one with system trust loads certificates): one Events client per routing key
    (the library binds the key to the client) and one REST client."""

    def __init__(
        self, events_url: str, api_url: str, tls: ssl.SSLContext | None, timeout_s: float
    ) -> None:
        self._events_url = events_url
        self._api_url = api_url
        self._tls = tls
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._events: dict[str, EventsApiV2Client] = {}
        self._rest: RestApiV2Client | None = None

    def events(self, routing_key: str) -> EventsApiV2Client:
        """The Events API v2 client for ``routing_key`` (blocking on first use)."""
        with self._lock:
            client = self._events.get(routing_key)
            if client is None:
                client = EventsApiV2Client(
                    routing_key, base_url=self._events_url, verify=self._verify()
                )
                single_shot(client, self._timeout_s)
                self._events[routing_key] = client
            return client

    def rest(self, api_token: str, from_email: str) -> RestApiV2Client:
        """The REST v2 client (``Token token=…``, ``From``); blocking on first use."""
        with self._lock:
            if self._rest is None:
                self._rest = RestApiV2Client(
                    api_token,
                    default_from=from_email,
                    base_url=self._api_url,
                    verify=self._verify(),
                )
                single_shot(self._rest, self._timeout_s)
            return self._rest

    def close(self) -> None:
        """Close every client's connections (blocking)."""
        with self._lock:
            clients: list[ApiClient] = [*self._events.values()]
            if self._rest is not None:
                clients.append(self._rest)
            self._events.clear()
            self._rest = None
        for client in clients:
            client.close()

    def _verify(self) -> ssl.SSLContext:
        """The TLS context every client shares: the one given, else the system's trust store."""
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls
