"""Helpers shared by the tests: launchers, waits, fixtures (no tests here)."""
