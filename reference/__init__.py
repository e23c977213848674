"""The reference implementation (fairchem-core 1.10.0) as a test oracle: its environment, a driver and
the generators of the golden fixtures in tests/fixtures/reference. Nothing here is imported by eqv2."""
