"""The one Kube fake keeps up with Kube: every method that talks to the API server is faked.

A new ``Kube`` method that the fake does not override would reach for the real client inside a
unit test (an AttributeError far from the cause); this test names it instead.
"""

from __future__ import annotations

import inspect
import re

from pyodo_tasks.core.kube import Kube
from pyodo_tasks.core.kube.pods import PodsApi
from tests.fakes.kube import FakeKube, _PodsCore, make_pod

#: Kube methods built only on other Kube methods: the fake runs the real ones.
COMPOSED = {"__enter__", "__exit__", "delete_labelled", "wait_labelled_gone", "wait_namespace_gone"}
#: Kube methods that touch no cluster.
LOCAL = {"to_dict"}
#: Kube's pod methods run for real on the fake: it answers the client calls they make.
ON_CORE = {name for name in vars(PodsApi) if not name.startswith("_")}


def test_every_method_that_talks_to_the_cluster_is_faked() -> None:
    public = {
        name
        for name, _ in inspect.getmembers(Kube, inspect.isfunction)
        if not name.startswith("_") or name in ("__enter__", "__exit__")
    }
    missing = sorted(public - COMPOSED - LOCAL - ON_CORE - set(FakeKube.__dict__))
    assert missing == [], f"fake these in tests/fakes/kube.py (or list them as composed): {missing}"


def test_every_client_call_of_the_pod_methods_is_answered() -> None:
    called = set(re.findall(r"self\.core\.(\w+)", inspect.getsource(PodsApi)))
    missing = sorted(name for name in called if not hasattr(_PodsCore, name))
    assert called and missing == [], f"answer these in tests/fakes/kube.py _PodsCore: {missing}"


def test_the_pod_methods_tolerate_what_the_fake_answers_like_a_cluster() -> None:
    kube = FakeKube()
    kube.add_pod(make_pod("app-1", {"app": "a"}))
    assert [p.metadata.name for p in kube.pods("app=a")] == ["app-1"]
    assert kube.delete_pod("app-1") is True
    assert kube.delete_pod("app-1") is False  # a 404, tolerated
    kube.node_image_list = None
    assert kube.node_images() is None  # a 403, tolerated


def test_composed_methods_run_on_the_fake() -> None:
    kube = FakeKube()
    kube.apply({"kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "1"}}, "data": {}})
    with kube:
        assert kube.delete_labelled("x=1") == ["ConfigMap/a"]
        kube.wait_labelled_gone("x=1", "a to go", timeout=1)
    assert kube.closed
