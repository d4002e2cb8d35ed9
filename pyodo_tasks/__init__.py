"""pyodo's engine: devfile model, rendering, file index, sync and the doit tasks.

The engine never imports pytest; the plugin in ``pytest_pyodo`` is a thin layer over it.
"""
