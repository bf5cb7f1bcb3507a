"""The process roles: `up` (all of them), `worker`, `scheduler`, `api`, `flower`, `migrate`."""

from __future__ import annotations

import socket

import click

from slamon.commands.common import fail, home_option, settings_or_exit
from slamon.worker.app import QUEUES


@click.command()
@home_option("Directory of the embedded state (overrides SLAMON_HOME and slamon --home).")
@click.option(
    "--port", type=click.IntRange(1, 65535), help="API port (default SLAMON_API_PORT, 8400)."
)
@click.option("--flower/--no-flower", default=False, help="Also run Flower (SLAMON_FLOWER_PORT).")
def up(port: int | None, flower: bool) -> None:
    """Run the whole stack: Redis (embedded unless SLAMON_REDIS_URL), database migrations,
    worker, scheduler, API and optionally Flower. Ctrl-C stops everything cleanly."""
    from slamon.supervisor import AlreadyRunning, Stack

    settings = settings_or_exit()
    try:
        code = Stack(settings, port=port, flower=flower).run()
    except AlreadyRunning as exc:
        fail(str(exc))
    except RuntimeError as exc:
        fail(str(exc))
    raise SystemExit(code)


@click.command()
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(1, 64),
    help="Worker processes (default SLAMON_WORKER_CONCURRENCY).",
)
@click.option(
    "-Q",
    "--queues",
    default=",".join(QUEUES),
    show_default=True,
    help="Comma-separated queues to consume.",
)
@click.option(
    "--pool",
    type=click.Choice(["prefork", "threads", "solo"]),
    default="prefork",
    show_default=True,
)
@click.option("-n", "--name", default=None, help="Celery node name (default slamon-<pid>@<host>).")
def worker(concurrency: int | None, queues: str, pool: str, name: str | None) -> None:
    """Run a Celery worker: ingest events, issue compensations."""
    import os

    from slamon.bootstrap import build_runtime, configure_celery, configure_logging
    from slamon.worker.app import app
    from slamon.worker.transport import transport_for

    settings = settings_or_exit()
    configure_logging(settings)
    build_runtime(settings)
    configure_celery(settings)
    # A queue item kombu cannot parse is kept, not fatal (worker/transport.py).
    app.conf.broker_transport = transport_for(settings.broker)
    node = name or f"slamon-{os.getpid()}@{socket.gethostname()}"
    app.worker_main(
        [
            "worker",
            f"--queues={queues}",
            f"--concurrency={concurrency or settings.worker_concurrency}",
            f"--pool={pool}",
            f"--loglevel={settings.log_level}",
            f"--hostname={node}",
            "--task-events",
        ]
    )


@click.command()
def scheduler() -> None:
    """Run the scheduler: claim due deadlines, judge them, record breaches and compensations."""
    from slamon.scheduler_role import run_scheduler_role

    raise SystemExit(run_scheduler_role(settings_or_exit()))


@click.command()
@click.option("--host", default=None, help="Bind address (default SLAMON_API_HOST).")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="Port (default SLAMON_API_PORT)."
)
def api(host: str | None, port: int | None) -> None:
    """Run the HTTP API: event intake, case queries, dashboard, /metrics, /healthz."""
    import uvicorn

    settings = settings_or_exit()
    uvicorn.run(
        "slamon.api.app:create_app",
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_level=settings.log_level.lower(),
    )


@click.command()
@click.option("--address", default="127.0.0.1", show_default=True, help="Bind address.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port (default SLAMON_FLOWER_PORT, 5555).",
)
def flower(address: str, port: int | None) -> None:
    """Run Flower on the same broker, to watch tasks live.

    With SLAMON_FLOWER_BASIC_AUTH (user:password, several separated by commas) every page
    and Flower's HTTP API (/api/tasks, /api/workers) ask for it; without it the pages are
    open and Flower keeps its API switched off."""
    import os

    from slamon.bootstrap import configure_celery
    from slamon.worker.app import app

    settings = settings_or_exit()
    try:
        configure_celery(settings)
    except RuntimeError as exc:
        fail(str(exc))
    argv = ["flower", f"--address={address}", f"--port={port or settings.flower_port}"]
    if settings.flower_basic_auth:
        problem = basic_auth_problem(settings.flower_basic_auth)
        if problem:
            fail(f"SLAMON_FLOWER_BASIC_AUTH: {problem}", code=2)
        argv.append(f"--basic-auth={settings.flower_basic_auth}")
    elif not os.environ.get("FLOWER_BASIC_AUTH"):
        click.echo(
            "slamon: SLAMON_FLOWER_BASIC_AUTH is not set: Flower's pages are open to anyone "
            "who reaches the port, and its HTTP API (/api/...) answers 401 until it is set",
            err=True,
        )
    app.start(argv)


def basic_auth_problem(value: str) -> str | None:
    """Why Flower would refuse every login with ``value``, or None if it is usable.

    Flower splits the value on commas into ``user:password`` pairs, so a comma cannot be
    part of a password, and a pair without a colon or with an empty side never matches.
    """
    for pair in value.split(","):
        user, colon, password = pair.partition(":")
        if not colon or not user or not password:
            return "expected user:password (several separated by commas; no comma in a password)"
    return None


@click.command()
def migrate() -> None:
    """Create or upgrade the database schema (idempotent)."""
    from slamon.models.db.engine import create_db_engine
    from slamon.models.db.migrate import current_revision, upgrade

    settings = settings_or_exit()
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(settings.database)
    upgrade(engine)
    click.echo(f"database at revision {current_revision(engine)}")
