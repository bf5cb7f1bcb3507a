"""Persistence of the domain: tables, engine, locks, SQL helpers, migrations, read models."""
