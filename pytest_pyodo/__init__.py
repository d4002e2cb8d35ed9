"""pytest plugin for pyodo: fixtures that deploy a component and yield its endpoint."""
