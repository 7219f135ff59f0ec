"""Benchmarks: run with ``sluice bench`` from a source checkout; never part of the test suite."""
