"""The one Kube fake keeps up with Kube: every method that talks to the API server is faked.

A new ``Kube`` method that the fake does not override would reach for the real client inside a
unit test (an AttributeError far from the cause); this test names it instead.
"""

from __future__ import annotations

import inspect

from pyodo_tasks.core.kube import Kube
from tests.fakes.kube import FakeKube

#: Kube methods built only on other Kube methods: the fake runs the real ones.
COMPOSED = {"__enter__", "__exit__", "delete_labelled", "wait_labelled_gone", "wait_namespace_gone"}
#: Kube methods that touch no cluster.
LOCAL = {"to_dict"}


def test_every_method_that_talks_to_the_cluster_is_faked() -> None:
    public = {
        name
        for name, _ in inspect.getmembers(Kube, inspect.isfunction)
        if not name.startswith("_") or name in ("__enter__", "__exit__")
    }
    missing = sorted(public - COMPOSED - LOCAL - set(FakeKube.__dict__))
    assert missing == [], f"fake these in tests/fakes/kube.py (or list them as composed): {missing}"


def test_composed_methods_run_on_the_fake() -> None:
    kube = FakeKube()
    kube.apply({"kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "1"}}, "data": {}})
    with kube:
        assert kube.delete_labelled("x=1") == ["ConfigMap/a"]
        kube.wait_labelled_gone("x=1", "a to go", timeout=1)
    assert kube.closed
