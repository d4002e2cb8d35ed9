"""Fakes shared by the tests that need no cluster (one per boundary: :mod:`.kube`)."""
