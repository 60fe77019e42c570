"""Benchmarks of volstore: run them with ``python -m benchmarks`` (see README.md)."""
