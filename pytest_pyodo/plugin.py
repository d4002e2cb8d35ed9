"""pytest hooks, options and fixtures for pyodo (thin: the logic lives in ``pyodo_tasks``)."""
