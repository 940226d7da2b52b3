"""The `brownout` command: run, sim, demo, scenarios, ctl."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from brownout import __version__

# Commands import what they need when they run, so `brownout ctl` starts without loading the
# scenario machinery (pydantic models, faults, providers) it never uses.


def _add_proxy_args(parser: argparse.ArgumentParser, *, port: int, admin_port: int) -> None:
    parser.add_argument(
        "--scenario",
        "-s",
        action="append",
        default=[],
        metavar="FILE|NAME",
        help="scenario file or library name to switch on (repeatable)",
    )
    parser.add_argument("--port", type=int, default=port, help=f"proxy port (default {port})")
    parser.add_argument(
        "--admin-port",
        type=int,
        default=admin_port,
        help=f"admin port for /metrics and the control API (default {admin_port}; 0: off)",
    )
    parser.add_argument("--listen-host", default="127.0.0.1", help="address the proxy binds (default 127.0.0.1)")
    parser.add_argument("--admin-host", default="127.0.0.1", help="address the admin port binds (default 127.0.0.1)")
    parser.add_argument(
        "--library", default="", metavar="DIR", help="scenario library loaded switched off (default: the built-in one)"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log every mitmproxy event")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brownout",
        description="Chaos proxy for AI APIs: rehearse outages, measure how your client reacts.",
    )
    parser.add_argument("--version", action="version", version=f"brownout {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the proxy")
    _add_proxy_args(run, port=8080, admin_port=9180)
    run.add_argument(
        "--upstream",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="point a prefix at another upstream, e.g. openai=http://127.0.0.1:9000/openai",
    )
    run.add_argument(
        "--admin-token",
        default=os.environ.get("BROWNOUT_ADMIN_TOKEN", ""),
        metavar="TOKEN",
        help="bearer token the control API requires (default $BROWNOUT_ADMIN_TOKEN); needed with a non-loopback "
        "--admin-host",
    )
    run.add_argument("--no-watch", action="store_true", help="do not reload scenario files when they change")
    run.add_argument(
        "--forward-port",
        type=int,
        default=None,
        metavar="N",
        help="also listen as a forward proxy (HTTPS_PROXY) on this port",
    )

    sim = sub.add_parser("sim", help="run the simulated OpenAI/Anthropic/Gemini upstream")
    sim.add_argument("--port", type=int, default=9000, help="port (default 9000)")
    sim.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    sim.add_argument("--tokens-per-second", type=float, default=50.0, help="stream pace (0: unpaced)")
    sim.add_argument("--first-token-delay", type=float, default=0.0, metavar="SECONDS")
    sim.add_argument("--reply-tokens", type=int, default=24, help="words per reply")

    demo = sub.add_parser("demo", help="simulator + proxy + synthetic SDK traffic, with a live summary")
    _add_proxy_args(demo, port=8080, admin_port=9180)
    demo.add_argument(
        "--duration", type=float, default=None, metavar="SECONDS", help="stop after this long (default: until Ctrl-C)"
    )
    demo.add_argument("--sim-port", type=int, default=0, help="simulator port (default: any free one)")
    demo.add_argument("--rate", type=float, default=4.0, help="synthetic requests per second (default 4)")

    scenarios = sub.add_parser("scenarios", help="the scenario library and a linter")
    ssub = scenarios.add_subparsers(dest="action", required=True, metavar="ACTION")
    slist = ssub.add_parser("list", help="list the library")
    slist.add_argument("--library", default="", metavar="DIR")
    show = ssub.add_parser("show", help="print a scenario")
    show.add_argument("name", help="library name or file")
    show.add_argument("--library", default="", metavar="DIR")
    validate = ssub.add_parser("validate", help="check scenario files; non-zero exit on any problem")
    validate.add_argument("files", nargs="+", metavar="FILE")

    from brownout.cli import ctl

    ctl.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "sim":
            return cmd_sim(args)
        if args.command == "demo":
            from brownout.cli.demo import run_demo

            return run_demo(args)
        if args.command == "ctl":
            from brownout.cli import ctl

            return ctl.run(args)
        return cmd_scenarios(args)
    except KeyboardInterrupt:
        return 130


def _check_scenarios(refs: Sequence[str], library: str) -> bool:
    """Validate everything the proxy would load, before anything starts."""
    from brownout.scenario.compile import ScenarioError
    from brownout.scenario.library import library_dir
    from brownout.scenario.library import library_files
    from brownout.scenario.library import load_all

    directory = Path(library) if library else library_dir()
    try:
        load_all([str(p) for p in library_files(directory)])
        load_all(refs, directory)
    except ScenarioError as exc:
        print(f"brownout: invalid scenario\n{exc}", file=sys.stderr)
        return False
    return True


def cmd_run(args: argparse.Namespace) -> int:
    from brownout.classify.routing import RoutingError
    from brownout.classify.routing import parse_upstream_arg

    try:
        upstreams = [parse_upstream_arg(v) for v in args.upstream]
    except RoutingError as exc:
        print(f"brownout: {exc}", file=sys.stderr)
        return 2
    if not _check_scenarios(args.scenario, args.library):
        return 1
    from mitmproxy import exceptions

    from brownout.classify.routing import RouteTable
    from brownout.cli.runner import ProxySettings
    from brownout.cli.runner import build_master
    from brownout.cli.runner import serve_forever

    settings = ProxySettings(
        listen_host=args.listen_host,
        port=args.port,
        admin_host=args.admin_host,
        admin_port=args.admin_port,
        forward_port=args.forward_port,
        upstreams=args.upstream,
        scenarios=args.scenario,
        library=args.library,
        verbosity="debug" if args.verbose else "info",
        admin_token=args.admin_token,
        watch=not args.no_watch,
    )

    async def serve() -> int:
        try:
            master, _ = build_master(settings)
        except exceptions.OptionsError as exc:
            message = str(exc)  # the addons' messages name brownout already
            print(message if message.startswith("brownout:") else f"brownout: {message}", file=sys.stderr)
            return 1
        _print_routes(settings, RouteTable(upstreams))
        return await serve_forever(master)

    return asyncio.run(serve())


def _print_routes(settings: object, routes: object) -> None:
    from brownout.classify.routing import RouteTable
    from brownout.cli.runner import ProxySettings

    assert isinstance(settings, ProxySettings) and isinstance(routes, RouteTable)
    base = f"http://{settings.listen_host}:{settings.port}"
    lines = [f"brownout {__version__}: proxy on {base}"]
    for name, upstream in sorted(routes.upstreams.items()):
        lines.append(f"  {base}/{name:<10} -> {upstream.url}")
    lines.append(f"  {base}/azure/<resource host> -> https://<resource host>")
    lines.append(f"  OPENAI_BASE_URL={base}/openai/v1  ANTHROPIC_BASE_URL={base}/anthropic")
    if settings.forward_port is not None:
        lines.append(f"  forward proxy: HTTPS_PROXY=http://{settings.listen_host}:{settings.forward_port}")
    if settings.admin_port > 0:
        lines.append(f"  metrics: http://{settings.admin_host}:{settings.admin_port}/metrics")
    print("\n".join(lines), flush=True)


def cmd_sim(args: argparse.Namespace) -> int:
    from brownout.sim import SimConfig
    from brownout.sim import run_sim

    config = SimConfig(
        tokens_per_second=args.tokens_per_second,
        first_token_delay=args.first_token_delay,
        reply_tokens=args.reply_tokens,
    )
    print(f"brownout sim on http://{args.host}:{args.port} (/openai, /anthropic, /gemini, /azure)", flush=True)
    try:
        asyncio.run(run_sim(args.host, args.port, config))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    from brownout.scenario.compile import ScenarioError
    from brownout.scenario.compile import load_scenario
    from brownout.scenario.library import library_dir
    from brownout.scenario.library import library_files
    from brownout.scenario.library import resolve_scenario_ref

    if args.action == "validate":
        failed = 0
        for file in args.files:
            try:
                scenario = load_scenario(file)
            except ScenarioError as exc:
                failed += 1
                print(exc, file=sys.stderr)
            else:
                print(f"{file}: ok ({scenario.name}, {len(scenario.rules)} rule(s))")
        return 1 if failed else 0

    directory = Path(args.library) if args.library else library_dir()
    if args.action == "list":
        from rich.console import Console
        from rich.table import Table

        table = Table("name", "rules", "description", title=f"scenarios in {directory}")
        for path in library_files(directory):
            try:
                scenario = load_scenario(path)
            except ScenarioError as exc:
                table.add_row(path.stem, "-", f"[red]invalid: {exc.problems[0]}")
                continue
            table.add_row(scenario.name, str(len(scenario.rules)), scenario.description)
        Console().print(table)
        return 0

    try:
        scenario = load_scenario(resolve_scenario_ref(args.name, directory))
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"# {scenario.source}")
    print(scenario.text.rstrip())
    print("\n# rules, in the order they are tried:")
    for rule in scenario.rules:
        print(f"#   {rule.name}: p={rule.probability:g} {rule.fault.describe()}")
    if scenario.timeline is not None:
        from brownout.units import go_duration

        loop = ", then again" if scenario.timeline.loop else ""
        print(f"# timeline, from the moment it is switched on{loop}:")
        for phase, rules in zip(scenario.timeline.phases, scenario.phase_rules, strict=True):
            length = go_duration(phase.duration) if phase.duration is not None else "until switched off"
            on = ", ".join(f"{r.name} (p={r.probability:g})" for r in rules) or "no rules (healthy)"
            print(f"#   {phase.name}, {length}: {on}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
