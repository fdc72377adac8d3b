"""Benchmarks (`make bench`): throughput printed as ratios against a baseline measured in the same run."""
