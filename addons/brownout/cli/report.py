"""`brownout report`: the verdicts of a running proxy (its admin API) or of a saved run.

Exit status: 0, or 1 when a `--fail-on` verdict failed, 2 for a file that cannot be read or an
unknown verdict name, 3 when the admin API cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from brownout.cli.ctl import ADMIN_ENV
from brownout.cli.ctl import DEFAULT_ADMIN
from brownout.cli.ctl import TOKEN_ENV
from brownout.cli.ctl import Client
from brownout.cli.ctl import CtlError
from brownout.report.build import Report
from brownout.report.build import build
from brownout.report.html import render
from brownout.report.verdicts import VERDICTS

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
STYLE = {"pass": "green", "fail": "bold red", "not_exercised": "dim"}
MARK = {"pass": "pass", "fail": "FAIL", "not_exercised": "-"}


def add_parser(sub: Any) -> None:
    report = sub.add_parser("report", help="verdicts on how the clients behaved (a running proxy or a saved run)")
    report.add_argument(
        "file", nargs="?", metavar="FILE", help="a run's record (run --record) or a saved --json report"
    )
    report.add_argument(
        "--admin", metavar="URL", help=f"the proxy's admin URL (default ${ADMIN_ENV} or {DEFAULT_ADMIN})"
    )
    report.add_argument("--admin-token", metavar="TOKEN", help=f"bearer token (default ${TOKEN_ENV})")
    report.add_argument("--json", action="store_true", help="print the report as JSON (docs/report.md)")
    report.add_argument("--html", metavar="FILE", help="write the report as an HTML page with charts")
    add_fail_on(report)


def add_fail_on(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fail-on",
        default="",
        metavar="VERDICT,...",
        help=f"exit 1 when any of these verdicts fails ({', '.join(VERDICTS)}, or all)",
    )


def fail_on(value: str) -> list[str]:
    """The verdict names of a `--fail-on` value; raises ValueError naming the unknown ones."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    if names == ["all"]:
        return list(VERDICTS)
    unknown = [name for name in names if name not in VERDICTS]
    if unknown:
        raise ValueError(f"--fail-on: unknown verdict(s) {', '.join(unknown)}; known: {', '.join(VERDICTS)}, all")
    return names


def load(path: Path) -> dict[str, Any]:
    """A report from a file: a run's record (JSON lines) or a report saved with --json."""
    from brownout.observe.record import RecordError
    from brownout.observe.record import read

    text = path.read_text(encoding="utf-8")
    first = text.lstrip()[:200]
    if '"brownout-record"' in first:
        try:
            return build(read(text.splitlines(), str(path)))
        except RecordError as exc:
            raise ValueError(str(exc)) from None
    try:
        data = json.loads(text)
        Report(data)
    except ValueError as exc:
        raise ValueError(f"{path}: neither a run's record nor a report: {exc}") from None
    return dict(data)


def show(report: dict[str, Any], console: Console) -> None:
    console.print(
        Text(
            f"brownout report: {report['attempts']} attempts over {report['seconds']:.0f} s; scenarios: "
            + (", ".join(s["name"] for s in report["scenarios"]) or "none switched"),
            style="bold",
        )
    )
    if not report["clients"]:
        console.print("No AI-API traffic was seen.")
    for row in report["clients"]:
        table = Table(
            title=f"{row['client']} at {row['provider']}: {row['attempts']} attempts, {row['retries']} retries",
            title_justify="left",
            show_header=False,
            box=None,
            pad_edge=False,
        )
        table.add_column("verdict", no_wrap=True)
        table.add_column("", no_wrap=True)
        table.add_column("what was seen")
        for name in VERDICTS:
            verdict = row["verdicts"][name]
            table.add_row(name, Text(MARK[verdict["verdict"]], style=STYLE[verdict["verdict"]]), verdict["summary"])
        console.print(table)
    failing = [
        (row, name, v) for row in report["clients"] for name, v in row["verdicts"].items() if v["verdict"] == "fail"
    ]
    if failing:
        console.print(Text("What to change:", style="bold"))
        for row, name, verdict in failing:
            console.print(
                Text.assemble((f"  {row['client']} at {row['provider']}, {name}: ", "bold red"), verdict["advice"])
            )
    elif report["clients"]:
        console.print(Text("No verdict failed.", style="green"))


def exit_status(report: dict[str, Any], names: list[str], console: Console) -> int:
    failed = Report(report).failing(names)
    if failed:
        which = ", ".join(sorted({name for _, _, name in failed}))
        console.print(Text(f"brownout: failing verdicts asked about by --fail-on: {which}", style="bold red"))
        return EXIT_FAILED
    return 0


def run(args: argparse.Namespace) -> int:
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        names = fail_on(args.fail_on)
        if args.file:
            report = load(Path(args.file))
        else:
            base = args.admin or os.environ.get(ADMIN_ENV) or DEFAULT_ADMIN
            client = Client(base, args.admin_token or os.environ.get(TOKEN_ENV, ""), timeout=60.0)
            report = client.call("GET", "/api/report")
    except CtlError as exc:
        err.print(Text(f"brownout report: {exc}", style="red"))
        return exc.code
    except (ValueError, OSError) as exc:
        err.print(Text(f"brownout report: {exc}", style="red"))
        return EXIT_BAD_INPUT
    return deliver(report, args, names, out, err, "brownout report")


def deliver(
    report: dict[str, Any], args: argparse.Namespace, names: list[str], out: Console, err: Console, command: str
) -> int:
    """What `report` and `drill` do with a finished report: the HTML page when asked, the JSON or
    the tables, then the exit status `--fail-on` asks for."""
    if args.html:
        Path(args.html).write_text(render(report), encoding="utf-8")
        err.print(f"{command}: wrote {args.html}")
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        show(report, out)
    return exit_status(report, names, err if args.json else out)
