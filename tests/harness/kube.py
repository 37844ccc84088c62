"""A real Kubernetes control plane on 127.0.0.1 (no kubelet), and a fake kubelet.

etcd (Debian's ``etcd-server``) plus kube-apiserver, kube-controller-manager and
kube-scheduler 1.20 built by ``scripts/kube-testenv.sh build`` into a cache outside the
repository (``$MEDIC_KUBE_CACHE``, default ``~/.cache/medic-kube/<version>/``). Token
authentication (an admin token and one RBAC-test user), RBAC authorization, no ServiceAccount
admission, no node-lifecycle controller. Ready in ~5 s.

``FakeKubelet`` plays the kubelet's part in a thread of its own: it marks scheduled pods
Running and Ready through the status subresource (so rollouts complete), finishes the
deletion of terminating pods, and serves container logs over HTTPS for ``pods/log``.

For humans: ``python -m harness.kube <state-dir>`` (from ``tests/``) runs the stack in the
foreground until Ctrl-C; ``scripts/kube-testenv.sh start`` does that.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

import aiohttp
import trustme
import yaml
from aiohttp import web

from .ports import OnLocalPort, free_port
from .process import POLL_INTERVAL, ManagedProcess, ServerError, start_process

ADMIN_TOKEN = "medic-test-admin-7d1c55e0"
RBAC_TOKEN = "medic-test-rbac-2b9e41aa"
RBAC_USER = "medic-rbac-test"
HOLD_LABEL = "medic.test/kubelet"
"""Pods labelled ``medic.test/kubelet: hold`` are never marked Ready by the fake kubelet."""
BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")

T = TypeVar("T")


def cached_bindir() -> Path:
    """The directory of the built binaries (``$MEDIC_KUBE_BIN``, else the newest complete
    cache directory); ServerError naming the build command when there is none."""
    explicit = os.environ.get("MEDIC_KUBE_BIN")
    if explicit:
        return Path(explicit)
    root = Path(os.environ.get("MEDIC_KUBE_CACHE", Path.home() / ".cache" / "medic-kube"))
    complete = sorted(p.parent for p in root.glob("*/.complete"))
    if not complete:
        raise ServerError(
            f"no Kubernetes binaries under {root}: run `bash scripts/kube-testenv.sh build`"
        )
    return complete[-1]


def _insecure_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class KubeStack(OnLocalPort):
    """etcd + control plane. ``with KubeStack().start(tmp) as kube: ...`` stops it on exit.

    ``url`` is the API server's https URL; ``ca_file`` its serving certificate;
    ``kubeconfig`` (admin) and ``rbac_kubeconfig`` (the RBAC-test user) are written at start.
    """

    def __init__(self, bindir: Path | None = None) -> None:
        self._bindir = bindir
        self._processes: list[ManagedProcess] = []
        self.workdir = Path()
        self.kubeconfig = Path()
        self.rbac_kubeconfig = Path()
        self.ca_file = Path()

    @property
    def url(self) -> str:
        """``https://127.0.0.1:<port>``."""
        return f"https://127.0.0.1:{self.port}"

    def start(self, tmpdir: Path, timeout: float = 60.0) -> Self:
        """Start etcd, then the API server, then the controller-manager and scheduler."""
        bindir = self._bindir or cached_bindir()
        self.workdir = tmpdir
        tmpdir.mkdir(parents=True, exist_ok=True)
        try:
            etcd_url = self._start_etcd(tmpdir, timeout)
            self._start_apiserver(bindir, tmpdir, etcd_url, timeout)
            for name in ("kube-controller-manager", "kube-scheduler"):
                argv = [
                    str(bindir / name),
                    f"--kubeconfig={self.kubeconfig}",
                    "--leader-elect=false",
                    "--port=0",
                    "--secure-port=0",
                ]
                if name == "kube-controller-manager":
                    argv.append("--controllers=*,-serviceaccount-token,-nodelifecycle")
                self._processes.append(start_process(name, argv, tmpdir))
        except BaseException:
            self.stop()
            raise
        return self

    def _start_etcd(self, tmpdir: Path, timeout: float) -> str:
        client, peer = free_port(), free_port()
        etcd = start_process(
            "etcd",
            [
                "etcd",
                f"--data-dir={tmpdir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{client}",
                f"--advertise-client-urls=http://127.0.0.1:{client}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",
            ],
            tmpdir,
        )
        self._processes.append(etcd)
        etcd.wait_http_ok(f"http://127.0.0.1:{client}/health", timeout)
        return f"http://127.0.0.1:{client}"

    def _start_apiserver(self, bindir: Path, tmpdir: Path, etcd_url: str, timeout: float) -> None:
        self._port = free_port()
        certs = tmpdir / "certs"
        certs.mkdir(exist_ok=True)
        sa_key, sa_pub = tmpdir / "sa.key", tmpdir / "sa.pub"
        subprocess.run(
            ["openssl", "genrsa", "-out", str(sa_key), "2048"], check=True, capture_output=True
        )
        subprocess.run(
            ["openssl", "rsa", "-in", str(sa_key), "-pubout", "-out", str(sa_pub)],
            check=True,
            capture_output=True,
        )
        tokens = tmpdir / "tokens.csv"
        tokens.write_text(
            f"{ADMIN_TOKEN},admin,admin,system:masters\n{RBAC_TOKEN},{RBAC_USER},{RBAC_USER}\n"
        )
        apiserver = start_process(
            "kube-apiserver",
            [
                str(bindir / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self._port}",
                f"--cert-dir={certs}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                "--service-cluster-ip-range=10.96.0.0/24",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                "--disable-admission-plugins=ServiceAccount",
                "--enable-priority-and-fairness=false",
                "--endpoint-reconciler-type=none",
                "--kubelet-preferred-address-types=InternalIP",
            ],
            tmpdir,
        )
        self._processes.append(apiserver)
        self.ca_file = certs / "apiserver.crt"
        self.kubeconfig = self._write_kubeconfig(tmpdir / "admin.kubeconfig", "admin", ADMIN_TOKEN)
        self.rbac_kubeconfig = self._write_kubeconfig(
            tmpdir / "rbac.kubeconfig", RBAC_USER, RBAC_TOKEN
        )
        # A JSON list answering proves the reflect2 fix is in (the unfixed build panics).
        self._wait_ok(apiserver, "/api/v1/nodes", timeout)

    def _wait_ok(self, process: ManagedProcess, path: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        request = urllib.request.Request(  # noqa: S310  # our own https:// server
            self.url + path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        while True:
            if process.popen.poll() is not None:
                raise ServerError(f"{process.name} exited; log:\n{process.tail()}")
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                urllib.request.urlopen(  # noqa: S310  # our own https:// server
                    request, timeout=2.0, context=_insecure_context()
                ) as resp,
            ):
                if resp.status == 200:
                    return
            if time.monotonic() >= deadline:
                raise ServerError(f"{process.name} not ready in {timeout:g} s:\n{process.tail()}")
            time.sleep(POLL_INTERVAL)

    def _write_kubeconfig(self, path: Path, user: str, token: str) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "medic-test",
                    "cluster": {"server": self.url, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": user, "context": {"cluster": "medic-test", "user": user}}],
            "current-context": user,
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def stop(self) -> None:
        """Stop every process, newest first; safe to call twice."""
        while self._processes:
            self._processes.pop().stop()


class KubeApi:
    """Plain JSON access to the API server for test setup and assertions (admin by default)."""

    def __init__(self, stack: KubeStack, token: str = ADMIN_TOKEN) -> None:
        self._url = stack.url
        self._token = token
        self._ssl = ssl.create_default_context(cafile=str(stack.ca_file))
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        ok: tuple[int, ...] = (200, 201),
        **query: str,
    ) -> Any:
        """Send a request; AssertionError unless the status is in ``ok``. JSON answer."""
        assert self._session is not None, "use `async with KubeApi(...)`"
        data = None if body is None else json.dumps(body)
        async with self._session.request(
            method,
            self._url + path,
            data=data,
            params=query,
            headers={"Content-Type": content_type},
            ssl=self._ssl,
        ) as resp:
            text = await resp.text()
            assert resp.status in ok, f"{method} {path} → {resp.status}: {text}"
            try:
                return json.loads(text) if text else {}
            except ValueError:
                return text

    async def get(self, path: str, **query: str) -> Any:
        """GET ``path``."""
        return await self.call("GET", path, **query)

    async def exists(self, path: str) -> bool:
        """Whether GET ``path`` answers 200 (404: False)."""
        answer = await self.call("GET", path, ok=(200, 404))
        return bool(answer.get("kind") != "Status")

    async def create(self, path: str, body: Any) -> Any:
        """POST ``body`` to ``path``."""
        return await self.call("POST", path, body)

    async def patch(self, path: str, body: Any, kind: str = "strategic-merge-patch") -> Any:
        """PATCH ``path`` (strategic merge by default; ``merge-patch`` or ``json-patch``)."""
        return await self.call("PATCH", path, body, content_type=f"application/{kind}+json")

    async def delete(self, path: str) -> Any:
        """DELETE ``path`` (404 is fine)."""
        return await self.call("DELETE", path, ok=(200, 202, 404))


async def eventually(
    probe: Callable[[], Awaitable[T]], what: str, within: float = 30.0, interval: float = 0.05
) -> T:
    """Await ``probe`` until it returns something truthy (polling), and return that."""
    timeout = within
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}: {value!r}")
        await asyncio.sleep(interval)


def node_body(name: str, labels: dict[str, str] | None = None, kubelet_port: int = 10250) -> Any:
    """A Ready node with room for pods, whose kubelet (the fake one) is on 127.0.0.1."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "status": node_status(kubelet_port),
    }


def node_status(kubelet_port: int, ready: bool = True) -> Any:
    """The status part of ``node_body``."""
    room = {"cpu": "32", "memory": "64Gi", "pods": "110"}
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "capacity": room,
        "allocatable": room,
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": "KubeletReady" if ready else "KubeletNotReady",
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }
        ],
    }


class FakeKubelet:
    """Does the kubelet's part for every node, in a thread with its own event loop.

    ``logs[(namespace, pod, container)]`` is what ``pods/log`` returns (else one line
    naming the pod). ``port`` is the HTTPS port of the log server (put it in the node's
    ``daemonEndpoints``).
    """

    def __init__(self, stack: KubeStack, interval: float = 0.1) -> None:
        self._stack = stack
        self._interval = interval
        self.logs: dict[tuple[str, str, str], str] = {}
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="fake-kubelet", daemon=True)
        self._started = threading.Event()
        self.error: BaseException | None = None

    def start(self) -> Self:
        """Start the thread; return once the log server listens."""
        self._thread.start()
        if not self._started.wait(30):
            raise ServerError("fake kubelet did not start")
        if self.error is not None:
            raise ServerError(f"fake kubelet failed: {self.error!r}")
        return self

    def stop(self) -> None:
        """Stop the thread."""
        if self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as err:  # reported by start() or the tests' state
            self.error = err
            self._started.set()
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        runner = web.AppRunner(self._log_app())
        await runner.setup()
        authority = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert("127.0.0.1").configure_cert(context)
        await web.TCPSite(runner, "127.0.0.1", self.port, ssl_context=context).start()
        self._started.set()
        try:
            async with KubeApi(self._stack) as api:
                while not self._stopping.is_set():
                    with contextlib.suppress(AssertionError, aiohttp.ClientError):
                        await self._tick(api)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), self._interval)
        finally:
            await runner.cleanup()

    async def _tick(self, api: KubeApi) -> None:
        pods = await api.get("/api/v1/pods")
        for pod in pods.get("items", []):
            meta, spec = pod["metadata"], pod["spec"]
            path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
            if meta.get("deletionTimestamp"):
                await api.call("DELETE", path, {"gracePeriodSeconds": 0}, ok=(200, 404, 409))
                continue
            if not spec.get("nodeName") or (meta.get("labels") or {}).get(HOLD_LABEL) == "hold":
                continue
            if pod.get("status", {}).get("phase") == "Running":
                continue
            await api.call(
                "PATCH",
                path + "/status",
                running_status(pod),
                ok=(200, 404, 409),
                content_type="application/strategic-merge-patch+json",
            )

    def _log_app(self) -> web.Application:
        async def container_logs(request: web.Request) -> web.Response:
            ns, pod, container = (request.match_info[k] for k in ("ns", "pod", "container"))
            text = self.logs.get((ns, pod, container), f"log of {ns}/{pod}/{container}\n")
            tail = request.query.get("tailLines")
            if tail is not None:
                text = "".join(text.splitlines(keepends=True)[-int(tail) :])
            return web.Response(text=text)

        app = web.Application()
        app.router.add_get("/containerLogs/{ns}/{pod}/{container}", container_logs)
        return app


def running_status(pod: Any) -> Any:
    """A status patch saying every container runs and the pod is Ready."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    conditions = [
        {"type": kind, "status": "True", "lastTransitionTime": now}
        for kind in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
    ]
    return {
        "status": {
            "phase": "Running",
            "hostIP": "127.0.0.1",
            "podIP": "10.244.0.10",
            "startTime": now,
            "conditions": conditions,
            "containerStatuses": [
                {
                    "name": c["name"],
                    "image": c["image"],
                    "imageID": "",
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": now}},
                }
                for c in pod["spec"]["containers"]
            ],
        }
    }


@contextlib.contextmanager
def running_stack(tmpdir: Path) -> Iterator[tuple[KubeStack, FakeKubelet]]:
    """The stack and its fake kubelet, stopped on exit."""
    with KubeStack().start(tmpdir) as stack:
        kubelet = FakeKubelet(stack).start()
        try:
            yield stack, kubelet
        finally:
            kubelet.stop()


def main(argv: list[str]) -> int:
    """``python -m harness.kube <state-dir>``: run the stack until Ctrl-C."""
    state = Path(argv[1] if len(argv) > 1 else "/tmp/medic-kube-dev")
    with running_stack(state) as (stack, kubelet):
        print(f"kube-apiserver: {stack.url}\nkubeconfig: {stack.kubeconfig}")
        print(f"fake kubelet port (node daemonEndpoints): {kubelet.port}\nCtrl-C stops it.")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
