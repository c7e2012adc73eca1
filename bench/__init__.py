"""Benchmarks: ratios against a reference measured in the same run. Not tests; never gate CI."""
