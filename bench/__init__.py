"""Benchmarks of the coalition stack: `python -m bench.run [--quick]` (see README.md)."""
