"""Benchmarks: `make bench` (or `python -m bench`) runs them all and prints one table each."""

from node.core.allocator import use_steady_allocators

# Every benchmark process allocates as `fednode` does (its command group sets this too).
use_steady_allocators()
