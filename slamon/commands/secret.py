"""``slamon secret``: a new random secret to configure (nothing is stored)."""

from __future__ import annotations

import secrets

import click


@click.command(name="secret")
@click.option("--token", is_flag=True,
              help="An API token (SLAMON_API_TOKEN, a key of SLAMON_API_TOKENS) instead.")
def command(token: bool) -> None:
    """Print a new signing secret in the Standard Webhooks format (whsec_…, 32 random bytes)
    for SLAMON_WEBHOOK_SECRET or SLAMON_POINTS_SECRET; with --token, an API token."""
    from slamon.models.signing import new_secret

    click.echo(secrets.token_urlsafe(32) if token else new_secret())
