"""Benchmarks: `make bench` (or `python -m bench`) runs them all and prints one table each."""

import pyarrow as pa

from node.core.allocator import use_steady_allocators

# Every benchmark process allocates as `fednode` does (its command group sets this too).
use_steady_allocators()
# pyarrow imports pandas at its first array when pandas is installed: the development
# environment has it (for the tests), a node's install does not. It is an import like the
# others, made here before any step's clock starts.
pa.array([0])
