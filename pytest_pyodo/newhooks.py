"""Hooks a ``conftest.py`` or plugin can implement to extend pyodo's pytest plugin.

Registered by the plugin's ``pytest_addhooks``; implement them like any pytest hook::

    def pytest_pyodo_component_ready(component, config):
        component.exec(["./manage.py", "loaddata", "fixtures.json"], check=True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .session import DeployedComponent


@pytest.hookspec
def pytest_pyodo_component_ready(component: DeployedComponent, config: pytest.Config) -> None:
    """A component was deployed for this session and its first push finished.

    Called once per deployment, before the test that asked for it runs — under xdist once per
    run for a shared component, in the worker that deployed it (the first worker to attach
    when the controller deployed it), while the others wait:
    the place to seed data, run migrations or wait for readiness the devfile cannot express.
    An exception fails that test's setup and every later request for the component.
    """
