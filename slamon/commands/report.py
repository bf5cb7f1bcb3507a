"""``slamon report --by merchant``: the compliance report as a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from datetime import UTC, datetime
from typing import Any

import click

from slamon.commands.common import fail, settings_or_exit
from slamon.commands.database import session_or_exit
from slamon.models.db.report_params import DEFAULT_LIMIT, FILTERS
from slamon.models.db.reports import DIMENSIONS, FIELDS

# The table's columns: (heading, field, how to show it).
COLUMNS = (
    ("CASES", "cases", "count"),
    ("RESP MET", "response_met_pct", "pct"),
    ("RESOL MET", "resolution_met_pct", "pct"),
    ("OPEN 违背承诺", "breaches_open", "count"),
    ("SETTLED", "breaches_settled", "count"),
    ("CONTESTED", "breaches_contested", "count"),
    ("POINTS PAID", "points_paid", "count"),
    ("RESP p50", "response_median_seconds", "duration"),
    ("RESP p90", "response_p90_seconds", "duration"),
    ("RESOL p50", "resolution_median_seconds", "duration"),
    ("RESOL p90", "resolution_p90_seconds", "duration"),
)


@click.command(name="report")
@click.option("--by", "dimension", required=True, type=click.Choice(DIMENSIONS),
              help="One row per merchant, provider, city, category, policy, day or week.")
@click.option("--since", metavar="WHEN",
              help="First instant (ISO-8601 with offset) or date (midnight in --tz); "
              "default 30 days before --until.")
@click.option("--until", metavar="WHEN", help="End, excluded (same forms); default now.")
@click.option("--sort", metavar="FIELD",
              help=f"Sort by this figure (default cases; key for day and week): "
              f"{', '.join(FIELDS)}.")
@click.option("--asc", is_flag=True, help="Ascending (default descending).")
@click.option("--limit", type=int, default=DEFAULT_LIMIT, show_default=True,
              help="Rows per page.")
@click.option("--offset", type=int, default=0, show_default=True, help="Rows to skip.")
@click.option("--tz", default="Asia/Shanghai", show_default=True,
              help="Zone of the day and week keys, of dates and printed instants.")
@click.option("--format", "output", type=click.Choice(["table", "json", "csv"]),
              default="table", show_default=True)
@click.option("--merchant", help="Only this merchant's cases.")
@click.option("--provider", help="Only this provider's cases.")
@click.option("--city", help="Only this city's cases.")
@click.option("--category", help="Only this category's cases.")
@click.option("--policy", help="Only this policy's cases.")
def command(dimension: str, since: str | None, until: str | None, sort: str | None,
            asc: bool, limit: int, offset: int, tz: str, output: str,
            **filters: str | None) -> None:
    """Who keeps the 一键求助 promise: per group, over the cases opened in the period, the
    cases, response and resolution met %, breaches open (违背承诺) / settled / contested,
    points paid, median and p90 time to response and resolution."""
    from slamon.models.db.report_params import report_query
    from slamon.models.db.reports import ReportError, compliance_report
    from slamon.models.instants import DISPLAY_ZONE

    settings = settings_or_exit()
    given = {"since": since, "until": until, "sort": sort, "tz": tz,
             "order": "asc" if asc else "desc", "limit": str(limit), "offset": str(offset),
             **{name: filters[name] for name in FILTERS}}
    try:
        query = report_query(
            dimension, {k: v for k, v in given.items() if v is not None},
            now=datetime.now(UTC), default_zone=DISPLAY_ZONE,
            max_days=settings.report_max_days, max_limit=settings.report_max_rows,
        )
    except ReportError as exc:
        fail(f"--{exc.field}: {exc.message}", code=2)
    with session_or_exit(settings) as session:
        report = compliance_report(session.connection(), query).as_dict()
    click.echo({"json": _json, "csv": _csv, "table": _table}[output](report), nl=False)


def _json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2) + "\n"


def _csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(report["rows"])
    return out.getvalue()


def _table(report: dict[str, Any]) -> str:
    heading = report["dimension"].upper()
    rows = [[_key(r["key"]), *(_show(r[f], kind) for _, f, kind in COLUMNS)]
            for r in report["rows"]]
    totals = report["totals"]
    rows.append([f"all ({report['groups']})", *(_show(totals[f], k) for _, f, k in COLUMNS)])
    header = [heading, *(h for h, _, _ in COLUMNS)]
    widths = [max(_width(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0] + " " * (widths[0] - _width(cells[0]))
        rest = (" " * (w - _width(c)) + c for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    shown = report["offset"] + len(report["rows"])
    more = (f"; more from --offset {report['next_offset']}"
            if report["next_offset"] is not None else "")
    lines = [
        f"cases opened {report['since']} to {report['until']} ({report['zone']}), "
        f"by {report['dimension']}, sorted by {report['sort']} {report['order']}",
        line(header),
        *(line(r) for r in rows[:-1]),
        line(rows[-1]),
        f"rows {report['offset'] + 1 if report['rows'] else 0}-{shown} of {report['groups']}"
        f"{more}",
    ]
    return "\n".join(lines) + "\n"


def _key(key: str | None) -> str:
    return "(none)" if key is None else key


def _show(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{value:.1f}%"
    if kind == "duration":
        return duration(value)
    return f"{value:,}"


def duration(seconds: float) -> str:
    """``42s``, ``12m 05s``, ``3h 20m``, ``2d 4h``: a duration as an operator reads it."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def _width(text: str) -> int:
    # Chinese characters take two columns in a terminal.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
