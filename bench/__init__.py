"""Benchmarks: ``python -m bench.core`` (``make bench``) measures the hub's ingest →
agent-socket path against a floor built from the same libraries. See bench/README.md."""
