"""pyodo's benchmarks: ``python -m benchmarks`` prints every figure and writes
``benchmarks/results/<name>.json``. Figures and ratios against a peer; nothing is asserted."""
