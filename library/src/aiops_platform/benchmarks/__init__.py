"""Benchmarks of the platform, run in a project (`make bench`): ratios against Prompt Flow and the ideal."""
