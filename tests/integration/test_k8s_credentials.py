"""The credential kinds of kubeconfig that the official client supports, through the console's backend:
bearer token (the other tests), client certificate (CN = user, O = groups) and exec credential plugins.
Against the fake API server (tests/k8sfake), which verifies client certificates against its CA as
kube-apiserver's --client-ca-file does, and answers SelfSubjectAccessReview for the identity it found."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from console.backends.base import PlaceKind
from console.backends.kubernetes.backend import KubernetesBackend
from console.backends.places import PlaceConfig
from tests.k8sfake import FakeCluster, Rule, objects, start_fake_cluster

pytestmark = pytest.mark.integration
READ_ONLY = [Rule(("get", "list", "watch"), ("*",), ("*",), name="viewer")]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    with start_fake_cluster(tmp_path, history=200, bookmark_interval=0.2) as running:
        running.seed_deployment("iris-v1")
        running.create(objects.httproute("iris", {"iris-v1": 100}))
        yield running


@pytest.fixture
def opened(cluster: FakeCluster) -> Iterator[list[KubernetesBackend]]:
    made: list[KubernetesBackend] = []
    yield made
    for backend in made:
        backend.close()


def backend(made: list[KubernetesBackend], cluster: FakeCluster, context: str) -> KubernetesBackend:
    config = PlaceConfig(id=f"kube-{context}", kind=PlaceKind.KUBERNETES, name=context, context=context,
                         kubeconfig=str(cluster.kubeconfig))
    made.append(KubernetesBackend(config, env={"KUBECONFIG": str(cluster.kubeconfig)}, initial_wait_s=10))
    return made[-1]


def test_a_client_certificate_is_the_identity(cluster: FakeCluster, opened: list[KubernetesBackend]) -> None:
    context = cluster.add_cert_user("dana", groups=("ml-team",), rules=READ_ONLY)
    kube = backend(opened, cluster, context)
    result = kube.probe()
    assert result.ok, result.message
    assert result.detail["user"] == "dana"  # as the API server authenticated it (the certificate's CN)
    assert "patch httproutes.gateway.networking.k8s.io in all namespaces" in result.detail["missing"]
    names = {e.name for e in kube.inventory().endpoints}
    assert "default/iris" in names


def test_a_certificate_from_another_ca_is_refused(cluster: FakeCluster, opened: list[KubernetesBackend]) -> None:
    context = cluster.add_cert_user("mallory", untrusted=True)
    result = backend(opened, cluster, context).probe()
    assert not result.ok and result.kind == "tls", result
    assert "client certificate" in result.message and "does not trust its issuer" in result.message


def test_an_exec_plugin_supplies_the_token(cluster: FakeCluster, opened: list[KubernetesBackend]) -> None:
    context = cluster.add_exec_user("erin")
    kube = backend(opened, cluster, context)
    result = kube.probe()
    assert result.ok, result.message
    assert result.detail["missing"] == []
    assert "default/iris" in {e.name for e in kube.inventory().endpoints}


def test_a_failing_exec_plugin_is_named_with_its_message(cluster: FakeCluster,
                                                         opened: list[KubernetesBackend]) -> None:
    context = cluster.add_exec_user("frank", fail="error: SSO session expired; run `cloud login`")
    result = backend(opened, cluster, context).probe()
    assert not result.ok
    assert "SSO session expired" in result.message, result.message


def test_an_older_cluster_without_selfsubjectreview_uses_the_kubeconfig_user(tmp_path: Path) -> None:
    with start_fake_cluster(tmp_path, drop_groups=("authentication.k8s.io",)) as old:
        context = old.add_cert_user("gina")
        made: list[KubernetesBackend] = []
        try:
            result = backend(made, old, context).probe()
            assert result.ok, result.message
            assert result.detail["user"] == "gina-user"  # the kubeconfig's name: the cluster cannot say
        finally:
            for kube in made:
                kube.close()
