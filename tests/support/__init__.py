"""Test helpers (imported by tests; not part of the openlqs package)."""
