"""Helpers shared by the tests (imported, never a conftest)."""
