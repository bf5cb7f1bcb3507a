"""Typed lifecycles (placeholder filled in by the next commit)."""
