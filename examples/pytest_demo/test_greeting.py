"""A user's integration tests: pyodo deploys the component, the tests only speak HTTP.

Run from the repository root (the component is chosen on the command line, so this file works
unchanged against any component that answers on its first endpoint)::

    pytest examples/pytest_demo --pyodo-component=examples/nodejs
    pytest examples/pytest_demo --pyodo-component=examples/nodejs -n 2
"""

import urllib.request


def test_the_app_greets(pyodo_endpoint):
    with urllib.request.urlopen(pyodo_endpoint, timeout=10) as response:
        assert response.status == 200
        assert "Hello from pyodo" in response.read().decode()


def test_every_path_is_served(pyodo_endpoint):
    with urllib.request.urlopen(pyodo_endpoint.rstrip("/") + "/any/path", timeout=10) as response:
        assert response.status == 200
