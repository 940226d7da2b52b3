"""`brownout ctl`: switch scenarios on a running proxy through its admin API.

A thin client: every action is one HTTP call to the admin port (stdlib urllib, so the command
starts fast), answers are shown with rich. Exit status: 0 done, 1 the proxy refused (an
unknown scenario, an invalid file), 3 the admin API could not be reached; 2 is a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from brownout.cli.scenario_table import scenario_table
from brownout.scenario.names import check_name

ADMIN_ENV = "BROWNOUT_ADMIN"
TOKEN_ENV = "BROWNOUT_ADMIN_TOKEN"
DEFAULT_ADMIN = "http://127.0.0.1:9180"

EXIT_REFUSED = 1
EXIT_UNREACHABLE = 3


class CtlError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _common(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: the options may stand before or after the action without one hiding the other.
    parser.add_argument(
        "--admin",
        metavar="URL",
        default=argparse.SUPPRESS,
        help=f"the proxy's admin URL (default ${ADMIN_ENV} or {DEFAULT_ADMIN})",
    )
    parser.add_argument(
        "--admin-token",
        metavar="TOKEN",
        default=argparse.SUPPRESS,
        help=f"bearer token, when the proxy requires one (default ${TOKEN_ENV})",
    )
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print the raw JSON answer")
    parser.add_argument(
        "--timeout", type=float, default=argparse.SUPPRESS, metavar="SECONDS", help="per call (default 10)"
    )


def add_parser(sub: Any) -> None:
    ctl = sub.add_parser("ctl", help="switch scenarios on a running proxy (admin API)")
    _common(ctl)
    actions = ctl.add_subparsers(dest="action", required=True, metavar="ACTION")
    _common(actions.add_parser("status", help="active scenarios, timeline phases, counters, file errors"))
    _common(actions.add_parser("list", help="the scenarios the proxy has loaded"))
    for action, text in (("activate", "switch scenarios on"), ("deactivate", "switch scenarios off")):
        parser = actions.add_parser(action, help=text)
        parser.add_argument("names", nargs="+", metavar="NAME", type=scenario_name)
        _common(parser)
    _common(actions.add_parser("clear", help="switch every scenario off"))
    load = actions.add_parser("load", help="send a scenario file to the proxy (validated there)")
    load.add_argument("file", metavar="FILE")
    load.add_argument("--activate", action="store_true", help="switch it on once loaded")
    _common(load)


def scenario_name(value: str) -> str:
    """An argument that is a scenario name: the one name rule, checked before the proxy is called."""
    try:
        return check_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class Client:
    def __init__(self, base: str, token: str, timeout: float) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: bytes | None = None) -> Any:
        request = urllib.request.Request(self.base + path, data=body, method=method)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if body is not None:
            request.add_header("Content-Type", "application/yaml")
        elif method != "GET":
            # The admin port takes a state change only with a JSON or YAML type (what a web page
            # cannot send without asking first), body or not.
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                message = json.loads(raw)["error"]
            except (ValueError, KeyError, TypeError):
                message = raw.decode("utf-8", "replace").strip() or exc.reason
            raise CtlError(str(message), EXIT_REFUSED) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CtlError(
                f"cannot reach the admin API at {self.base}: {reason} (is `brownout run` up? set --admin URL)",
                EXIT_UNREACHABLE,
            ) from None


def run(args: argparse.Namespace) -> int:
    out = Console(highlight=False, soft_wrap=True)
    client = Client(
        getattr(args, "admin", None) or os.environ.get(ADMIN_ENV) or DEFAULT_ADMIN,
        getattr(args, "admin_token", None) or os.environ.get(TOKEN_ENV, ""),
        getattr(args, "timeout", 10.0),
    )
    raw = getattr(args, "json", False)
    try:
        if args.action == "status":
            answer = client.call("GET", "/api/status")
            _print(out, answer, raw, show_status)
        elif args.action == "list":
            answer = client.call("GET", "/api/scenarios")
            _print(out, answer, raw, show_list)
        elif args.action in ("activate", "deactivate"):
            for name in args.names:
                quoted = urllib.parse.quote(name, safe="")
                answer = client.call("POST", f"/api/scenarios/{quoted}/{args.action}")
                _print(out, answer, raw, show_switch)
        elif args.action == "clear":
            answer = client.call("POST", "/api/clear")
            _print(out, answer, raw, show_clear)
        else:
            return load(client, out, args.file, args.activate, raw)
    except CtlError as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(Text(f"brownout ctl: {exc}", style="red"))
        return exc.code
    return 0


def load(client: Client, out: Console, file: str, activate: bool, raw: bool) -> int:
    try:
        body = Path(file).read_bytes()
    except OSError as exc:
        raise CtlError(f"{file}: cannot read: {exc.strerror or exc}", EXIT_REFUSED) from None
    query = urllib.parse.urlencode({"source": file, **({"activate": "1"} if activate else {})})
    answer = client.call("POST", f"/api/scenarios?{query}", body)
    if raw:
        out.print_json(data=answer)
    else:
        verb = "replaced" if answer.get("replaced") else "loaded"
        state = "on" if answer.get("active") else "off"
        out.print(Text(f"{answer['name']} {verb} ({len(answer.get('rules', []))} rule(s)), {state}"))
    return 0


def _print(out: Console, answer: Any, raw: bool, show: Any) -> None:
    if raw:
        out.print_json(data=answer)
    else:
        show(out, answer)


def show_switch(out: Console, answer: dict[str, Any]) -> None:
    state = "on" if answer["active"] else "off"
    out.print(Text(f"{answer['name']} {state}" + ("" if answer["changed"] else f" (already {state})")))


def show_clear(out: Console, answer: dict[str, Any]) -> None:
    gone = answer["deactivated"]
    out.print(Text(f"switched off: {', '.join(gone)}" if gone else "nothing was on"))


def show_list(out: Console, answer: list[dict[str, Any]]) -> None:
    rows = [
        (
            scenario["name"],
            Text("on", style="bold red") if scenario["active"] else Text("off", style="dim"),
            str(len(scenario.get("rules", []))),
            " > ".join(scenario.get("timeline") or []) or "-",
            scenario.get("description", ""),
        )
        for scenario in answer
    ]
    headers = ("name", "on", "rules", "timeline", "description")
    out.print(scenario_table(headers, rows, box=None, pad_edge=False))


def _seconds(value: float) -> str:
    value = int(value)
    minutes, seconds = divmod(value, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{seconds:02d}s"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _phase(timeline: dict[str, Any] | None) -> str:
    if timeline is None:
        return "-"
    if timeline["ended"]:
        return "ended"
    left = timeline["remaining_seconds"]
    position = f"{timeline['index'] + 1}/{len(timeline['phases'])}"
    text = f"{timeline['phase']} ({position}" + (f", {_seconds(left)} left" if left is not None else "") + ")"
    return text + (f" pass {timeline['cycle'] + 1}" if timeline["loop"] else "")


def show_status(out: Console, answer: dict[str, Any]) -> None:
    out.print(
        Text(
            f"brownout {answer['version']}, up {_seconds(answer['uptime_seconds'])}, "
            f"{answer['scenarios_loaded']} scenario(s) loaded"
        )
    )
    if answer["active"]:
        rows = [
            (
                Text(scenario["name"], style="bold red"),
                _seconds(scenario["on_for_seconds"]),
                _phase(scenario["timeline"]),
                scenario["description"],
            )
            for scenario in answer["active"]
        ]
        out.print(scenario_table(("active", "on for", "phase", "description"), rows, box=None, pad_edge=False))
    else:
        out.print(Text("no scenario active", style="green"))
    counters = answer["counters"]
    by_code = ", ".join(f"{code}: {count}" for code, count in counters["requests_by_code"].items())
    out.print(
        Text(
            f"requests {counters['requests']}" + (f" ({by_code})" if by_code else "") + f", faults injected "
            f"{counters['faults_injected']}, fault errors {counters['fault_errors']}"
        )
    )
    fleet = answer.get("fleet")
    if fleet:
        if fleet["up"]:
            out.print(Text(f"fleet: {fleet['redis']}, shared"))
        else:
            unshared = f", {fleet['unshared_changes']} change(s) not yet shared" if fleet["unshared_changes"] else ""
            out.print(
                Text(f"fleet: {fleet['redis']} unreachable: serving the last known state{unshared}", style="bold red")
            )
    for problem in answer["errors"]:
        out.print(Text(f"rejected edit of {problem['file']} (the previous version keeps running):", style="bold red"))
        out.print(Text(problem["error"], style="red"))


def main(argv: list[str] | None = None) -> int:
    """`python -m brownout.cli.ctl ...`, the same as `brownout ctl ...`."""
    parser = argparse.ArgumentParser(prog="brownout")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(["ctl", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())
