"""The business calendar: its spec (policy data) and its engine (pure)."""
