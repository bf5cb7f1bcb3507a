"""SLA policies: the schema, eligibility, penalties and the shipped TOML."""
