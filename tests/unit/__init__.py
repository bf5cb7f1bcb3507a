"""Unit tests: pure and fast, no external services."""
