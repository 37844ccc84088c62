"""Deployment actions against a real kube-apiserver 1.20 (the fake kubelet runs the pods):
rollout history and rollback, scale caps, env, resources, restart, rollout status."""

from __future__ import annotations

import pytest

from bot.errors import PermanentError
from responders.kubernetes.client import KubeRefused, KubernetesClient

from harness.kube import KubeApi
from harness.kube_fixtures import Runner, unique
from harness.kubeobjects import (
    create_deployment,
    deployment_body,
    deployment_path,
    image_of,
    revision,
    rolled_out,
    set_image,
)


async def three_revisions(kube: KubeApi, namespace: str) -> str:
    """A deployment rolled out as app:1, then app:2, then app:3 (revisions 1, 2, 3)."""
    name = unique("web")
    await create_deployment(kube, namespace, deployment_body(name, "registry.local/app:1"))
    await rolled_out(kube, namespace, name)
    for version in (2, 3):
        await set_image(kube, namespace, name, f"registry.local/app:{version}")
        await rolled_out(kube, namespace, name)
    assert await revision(kube, namespace, name) == 3
    return name


async def test_history_and_rollback_across_three_revisions(
    kube: KubeApi, namespace: str, k8s: KubernetesClient, run_action: Runner
) -> None:
    """rollout_history lists the three revisions with their images; rollback goes to the
    previous revision, then to a given one; the API server's deployment follows, and the
    output says before and after."""
    name = await three_revisions(kube, namespace)
    where = {"namespace": namespace, "deployment": name}

    history = await run_action(k8s, "kubernetes.rollout_history", **where)
    out = history.output
    assert out["current_revision"] == 3
    assert [(r["revision"], r["images"]) for r in out["revisions"]] == [
        (1, ["registry.local/app:1"]),
        (2, ["registry.local/app:2"]),
        (3, ["registry.local/app:3"]),
    ]
    assert 0 <= out["last_change_age_s"] < 120

    back = await run_action(k8s, "kubernetes.rollback", **where)
    assert back.output["before"] == {"revision": 3, "images": ["registry.local/app:3"]}
    assert back.output["after"] == {"revision": 2, "images": ["registry.local/app:2"]}
    assert "from revision 3" in back.summary
    assert "to revision 2" in back.summary
    assert not back.dry_run
    assert image_of(await rolled_out(kube, namespace, name)) == "registry.local/app:2"
    assert await revision(kube, namespace, name) == 4  # the controller renumbers it

    to_first = await run_action(k8s, "kubernetes.rollback", revision=1, **where)
    assert to_first.output["to_revision"] == 1
    deployment = await rolled_out(kube, namespace, name)
    assert image_of(deployment) == "registry.local/app:1"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert "pod-template-hash" not in labels


async def test_rollback_refused_on_a_paused_deployment(
    kube: KubeApi, namespace: str, k8s: KubernetesClient, run_action: Runner
) -> None:
    """A paused deployment is not rolled back (kubectl refuses too); nothing changes."""
    name = await three_revisions(kube, namespace)
    await kube.patch(deployment_path(namespace, name), {"spec": {"paused": True}})
    with pytest.raises(PermanentError, match="is paused"):
        await run_action(k8s, "kubernetes.rollback", namespace=namespace, deployment=name)
    found = await kube.get(deployment_path(namespace, name))
    assert image_of(found) == "registry.local/app:3"


async def test_rollback_skipped_when_the_target_equals_the_current_template(
    kube: KubeApi, namespace: str, k8s: KubernetesClient, run_action: Runner
) -> None:
    """Rolling back to the revision already running changes nothing and says so."""
    name = await three_revisions(kube, namespace)
    before = await kube.get(deployment_path(namespace, name))
    result = await run_action(
        k8s, "kubernetes.rollback", namespace=namespace, deployment=name, revision=3
    )
    assert result.output["changed"] is False
    assert "not rolled back" in result.summary
    after = await kube.get(deployment_path(namespace, name))
    assert after["metadata"]["generation"] == before["metadata"]["generation"]


async def test_rollback_to_an_unknown_revision_names_the_known_ones(
    kube: KubeApi, namespace: str, k8s: KubernetesClient, run_action: Runner
) -> None:
    """An unknown revision fails with the revisions that exist."""
    name = await three_revisions(kube, namespace)
    with pytest.raises(PermanentError, match=r"no revision 9 \(known: 1, 2, 3\)"):
        await run_action(
            k8s, "kubernetes.rollback", namespace=namespace, deployment=name, revision=9
        )


async def test_scale_absolute_and_by_factor_within_caps(
    kube: KubeApi, namespace: str, k8s: KubernetesClient, run_action: Runner
) -> None:
    """A factor rounds up and stops at max_replicas, a min_replicas floor holds, an absolute
    count is set as is; before/after replicas are in the output and the summary."""
    name = unique("queue")
    await create_deployment(
        kube, namespace, deployment_body(name, "registry.local/q:1", replicas=2)
    )
    where = {"namespace": namespace, "deployment": name}

    up = await run_action(k8s, "kubernetes.scale", factor=3, max_replicas=5, **where)
    assert (up.output["before"], up.output["after"]) == ({"replicas": 2}, {"replicas": 5})
    assert up.output["capped"] is True
    assert "2 → 5 (capped from 6)" in up.summary
    assert (await kube.get(deployment_path(namespace, name)))["spec"]["replicas"] == 5

    down = await run_action(k8s, "kubernetes.scale", factor=0.1, min_replicas=2, **where)
    assert down.output["after"] == {"replicas": 2}
    assert (await kube.get(deployment_path(namespace, name)))["spec"]["replicas"] == 2

    exact = await run_action(k8s, "kubernetes.scale", replicas=3, **where)
    assert exact.output["after"] == {"replicas": 3}
    assert (await rolled_out(kube, namespace, name))["status"]["availableReplicas"] == 3


async def test_set_env_then_wait_rollout(
    kube: KubeApi, namespace: str, k8s: KubernetesClient, run_action: Runner
) -> None:
    """set_env sets and removes variables on the container (strategic merge by name, other
    variables kept); wait_rollout then returns once the new pods are available."""
    name = unique("pool")
    body = deployment_body(name, "registry.local/db:1", env={"KEEP": "k", "OLD": "o", "SIZE": "50"})
    await create_deployment(kube, namespace, body)
    await rolled_out(kube, namespace, name)
    where = {"namespace": namespace, "deployment": name}

    result = await run_action(
        k8s, "kubernetes.set_env", env={"SIZE": 150, "MAX": "200"}, remove=["OLD"], **where
    )
    assert result.output["before"]["env"] == {"KEEP": "k", "OLD": "o", "SIZE": "50"}
    assert result.output["after"]["env"] == {"KEEP": "k", "SIZE": "150", "MAX": "200"}
    assert "SIZE: 50 → 150" in result.summary
    assert "OLD: o → <unset>" in result.summary

    waited = await run_action(k8s, "kubernetes.wait_rollout", timeout="60s", **where)
    assert waited.output["revision"] == 2
    assert "successfully rolled out" in waited.summary
    found = await kube.get(deployment_path(namespace, name))
    env = found["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {e["name"]: e["value"] for e in env} == {"KEEP": "k", "SIZE": "150", "MAX": "200"}
    assert found["status"]["updatedReplicas"] == found["status"]["availableReplicas"] == 1


async def test_set_resources_and_restart(
    kube: KubeApi, namespace: str, k8s: KubernetesClient, run_action: Runner
) -> None:
    """set_resources merges limits/requests into the container; restart sets the
    restartedAt annotation, which starts a new rollout."""
    name = unique("api")
    await create_deployment(kube, namespace, deployment_body(name, "registry.local/api:1"))
    where = {"namespace": namespace, "deployment": name}
    res = await run_action(
        k8s,
        "kubernetes.set_resources",
        limits={"memory": "512Mi"},
        requests={"cpu": "250m", "memory": "256Mi"},
        **where,
    )
    assert res.output["before"]["resources"] == {}
    assert res.output["after"]["resources"] == {
        "limits": {"memory": "512Mi"},
        "requests": {"cpu": "250m", "memory": "256Mi"},
    }
    restarted = await run_action(k8s, "kubernetes.restart", **where)
    stamp = restarted.output["after"]["restarted_at"]
    assert restarted.output["before"]["restarted_at"] is None
    found = await rolled_out(kube, namespace, name)
    template = found["spec"]["template"]
    assert template["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] == stamp
    assert template["spec"]["containers"][0]["resources"]["limits"] == {"memory": "512Mi"}


async def test_wait_rollout_fails_on_progress_deadline_exceeded(
    kube: KubeApi, namespace: str, k8s: KubernetesClient, run_action: Runner
) -> None:
    """Pods that never become Ready: the controller reports ProgressDeadlineExceeded and
    wait_rollout fails with its message long before its own timeout."""
    name = unique("stuck")
    body = deployment_body(name, "registry.local/bad:1", hold=True, progress_deadline_s=1)
    await create_deployment(kube, namespace, body)
    with pytest.raises(PermanentError, match="exceeded its progress deadline"):
        await run_action(
            k8s, "kubernetes.wait_rollout", namespace=namespace, deployment=name, timeout="90s"
        )


async def test_wait_rollout_gives_up_at_its_timeout(
    kube: KubeApi, namespace: str, k8s: KubernetesClient, run_action: Runner
) -> None:
    """A rollout still in progress at the timeout fails saying what it waits for."""
    name = unique("slow")
    await create_deployment(kube, namespace, deployment_body(name, "registry.local/s:1", hold=True))
    with pytest.raises(PermanentError, match=r"not finished after 1s: .*available"):
        await run_action(
            k8s, "kubernetes.wait_rollout", namespace=namespace, deployment=name, timeout="1s"
        )


async def test_missing_deployment_fails_with_the_servers_message(
    namespace: str, k8s: KubernetesClient, run_action: Runner
) -> None:
    """A 404 is a permanent failure carrying the API server's own words."""
    with pytest.raises(KubeRefused, match=r'404 NotFound: deployments.apps "ghost" not found'):
        await run_action(
            k8s, "kubernetes.scale", namespace=namespace, deployment="ghost", replicas=1
        )
