"""The `brownout` command: run, sim, demo, scenarios, ctl."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

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
        "--provider",
        action="append",
        default=[],
        metavar="HOST[:PORT][/PATH]=PROVIDER",
        help="say which provider an upstream is, for requests not sent through a prefix "
        "(the forward port), e.g. 127.0.0.1:9000/anthropic=anthropic",
    )
    run.add_argument(
        "--admin-token",
        default=os.environ.get("BROWNOUT_ADMIN_TOKEN", ""),
        metavar="TOKEN",
        help="bearer token the control API requires (default $BROWNOUT_ADMIN_TOKEN); needed with a non-loopback "
        "--admin-host",
    )
    run.add_argument(
        "--admin-allow-host",
        action="append",
        default=[],
        metavar="NAME[:PORT]",
        help="a name the admin port answers to besides its own address, e.g. the one Prometheus scrapes "
        "(repeatable; default $BROWNOUT_ADMIN_HOSTS; '*': any)",
    )
    run.add_argument(
        "--admin-allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a browser origin (scheme://host[:port]) allowed to change state through the admin port "
        "(repeatable; default $BROWNOUT_ADMIN_ORIGINS; none: no web page may)",
    )
    run.add_argument(
        "--redis",
        default="",
        metavar="URL",
        help="share switches, uploads, timelines, counters and rate-limit buckets with the other replicas "
        "on this Redis (redis://HOST[:PORT][/DB]); default: this replica alone",
    )
    run.add_argument("--no-watch", action="store_true", help="do not reload scenario files when they change")
    run.add_argument(
        "--forward-port",
        type=int,
        default=None,
        metavar="N",
        help="also listen as a forward proxy (HTTPS_PROXY) on this port",
    )
    run.add_argument(
        "--record",
        default="",
        metavar="FILE",
        help="write the run's record (JSON lines: attempts and client events, no keys or prompts) for "
        "`brownout report FILE`",
    )
    run.add_argument("--no-fault-log", action="store_true", help="do not print a line for each injected fault")
    run.add_argument(
        "--retry-window",
        default="30s",
        metavar="DURATION",
        help="how long after a failed attempt (plus its Retry-After) the same request counts as its retry "
        "(default 30s)",
    )
    run.add_argument(
        "--fallback-window",
        default="60s",
        metavar="DURATION",
        help="how long after a failure the same conversation elsewhere counts as a fallback (default 60s)",
    )
    limits = (
        ("--idle-timeout", "120s", "close a client connection idle (no request under way) this long", ""),
        (
            "--connect-timeout",
            "10s",
            "longest wait for an upstream connection (TCP and TLS), then a labelled 504",
            "; 0: no limit",
        ),
        (
            "--first-byte-timeout",
            "10m",
            "longest wait from sending a request upstream to its answer's headers (latency faults do not count), "
            "then a labelled 504",
            "; 0: no limit",
        ),
        (
            "--stream-idle-timeout",
            "10m",
            "longest gap in the upstream's answer; a stream then ends with the provider's error event",
            "; 0: no limit",
        ),
        (
            "--shutdown-grace",
            "25s",
            "on SIGTERM or Ctrl-C, how long requests and streams under way may take to finish",
            "; 0: stop at once",
        ),
    )
    for flag, default, text, zero in limits:
        run.add_argument(flag, default=default, metavar="DURATION", help=f"{text} (default {default}{zero})")

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
    validate = ssub.add_parser("validate", help="check scenarios; non-zero exit on any problem")
    validate.add_argument(
        "refs", nargs="+", metavar="FILE|DIR|NAME", help="a file, a directory of them, or a library name"
    )
    validate.add_argument("--library", default="", metavar="DIR", help="where NAME is looked up")

    from brownout.cli import ctl

    ctl.add_parser(sub)
    from brownout.cli import drill
    from brownout.cli import report

    report.add_parser(sub)
    drill.add_parser(sub)
    return parser


# What the shell reports for a command that a closed pipe ended (128 + SIGPIPE): `| head -1`
# stopping the output is neither success (a `validate` may not have checked everything) nor one of
# the commands' own failures (1: a scenario has a problem).
EXIT_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    """`brownout ...`; output that goes into a pipe whose reader has gone (`| head -1`) just stops."""
    try:
        code = run_command(argv)
        # Flushed here rather than at the interpreter's exit, so a closed pipe is caught below.
        sys.stdout.flush()
    except BrokenPipeError:
        # What is still buffered goes to /dev/null: the flush at exit must not fail again and print
        # a traceback (the Python docs' note on SIGPIPE).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return code


def run_command(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `brownout drill SCENARIO [options] -- COMMAND...`: what follows `--` is the command's own.
    child: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, child = argv[:cut], argv[cut + 1 :]
    args = build_parser().parse_args(argv)
    args.child = child
    try:
        if args.command == "run":
            from brownout.cli.run import cmd_run

            return cmd_run(args)
        if args.command == "sim":
            return cmd_sim(args)
        if args.command == "demo":
            from brownout.cli.demo import run_demo

            return run_demo(args)
        if args.command == "ctl":
            from brownout.cli import ctl

            return ctl.run(args)
        if args.command == "report":
            from brownout.cli import report

            return report.run(args)
        if args.command == "drill":
            from brownout.cli import drill

            return drill.run(args)
        from brownout.cli.scenarios import cmd_scenarios

        return cmd_scenarios(args)
    except KeyboardInterrupt:
        return 130


def cmd_sim(args: argparse.Namespace) -> int:
    from brownout.cli.ports import Listener
    from brownout.cli.ports import port_problem
    from brownout.sim import SimConfig
    from brownout.sim import run_sim

    problem = port_problem([Listener("--port", "the simulator", args.host, args.port)])
    if problem:
        print(problem, file=sys.stderr)
        return 1
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


if __name__ == "__main__":
    sys.exit(main())
