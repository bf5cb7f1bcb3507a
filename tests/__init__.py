"""slamon tests: unit (pure, fast), integration (real databases and Redis), e2e."""
