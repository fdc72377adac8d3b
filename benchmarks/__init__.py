"""Benchmarks (``make bench``): each prints throughput as a ratio against a baseline measured in the same run."""
