"""pyodo's in-pod runtime: what runs inside a component's app container, and how it gets there.

Why a package of its own: these files ship to users' pods (the agent and supervisor, their
scripts, the init image's recipe), so they belong to the product, not to the test bed that builds
pyodo's own test clusters. ``contract`` holds the paths and commands the renderer and these files
agree on; ``supervisor/`` the Go sources of the agent and supervisor; ``init/`` the scripts and
configuration placed at ``/opt/odo``; ``binaries`` finds or builds the static binary for a node's
architecture; ``bundle`` makes the upload that puts all of it into a pod with nothing preloaded.
"""
