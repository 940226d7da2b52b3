"""`brownout run`: the proxy in the foreground, with its routes printed first."""

from __future__ import annotations

import argparse
import asyncio
import sys

from brownout import __version__
from brownout.cli.checks import check_scenarios
from brownout.cli.ports import Listener
from brownout.cli.ports import port_problem


def cmd_run(args: argparse.Namespace) -> int:
    from brownout.classify.routing import RoutingError
    from brownout.classify.routing import parse_upstream_arg
    from brownout.classify.upstream_providers import parse_provider_rule

    try:
        upstreams = [parse_upstream_arg(v) for v in args.upstream]
        for value in args.provider:
            parse_provider_rule(value)
    except RoutingError as exc:
        print(f"brownout: {exc}", file=sys.stderr)
        return 2
    problem = port_problem(
        [
            Listener("--port", "the proxy", args.listen_host, args.port),
            Listener("--admin-port", "the admin port (metrics, control API)", args.admin_host, args.admin_port),
            *(
                [Listener("--forward-port", "the forward proxy", args.listen_host, args.forward_port)]
                if args.forward_port is not None
                else []
            ),
        ]
    )
    if problem:
        print(problem, file=sys.stderr)
        return 1
    if not check_scenarios(args.scenario, args.library):
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
        record=args.record,
        extra_options={
            "brownout_fault_log": not args.no_fault_log,
            "brownout_admin_hosts": args.admin_allow_host,
            "brownout_admin_origins": args.admin_allow_origin,
            "brownout_providers": args.provider,
            "brownout_retry_window": args.retry_window,
            "brownout_fallback_window": args.fallback_window,
            "brownout_idle_timeout": args.idle_timeout,
            "brownout_connect_timeout": args.connect_timeout,
            "brownout_first_byte_timeout": args.first_byte_timeout,
            "brownout_stream_idle_timeout": args.stream_idle_timeout,
            "brownout_shutdown_grace": args.shutdown_grace,
            "brownout_redis": args.redis,
        },
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
    from brownout.classify.routing import DEFAULT_UPSTREAMS
    from brownout.classify.routing import RouteTable
    from brownout.cli.runner import ProxySettings

    default_hosts = {name: url.removeprefix("https://") for name, url in DEFAULT_UPSTREAMS.items()}
    assert isinstance(settings, ProxySettings) and isinstance(routes, RouteTable)
    base = f"http://{settings.listen_host}:{settings.port}"
    lines = [f"brownout {__version__}: proxy on {base}"]
    for name, upstream in sorted(routes.upstreams.items()):
        lines.append(f"  {base}/{name:<10} -> {upstream.url}")
    azure = routes.azure_override.url if routes.azure_override is not None else "https://<resource host>"
    lines.append(f"  {base}/azure/<resource host> -> {azure}")
    lines.append(f"  OPENAI_BASE_URL={base}/openai/v1  ANTHROPIC_BASE_URL={base}/anthropic")
    if settings.forward_port is not None:
        lines.append(f"  forward proxy: HTTPS_PROXY=http://{settings.listen_host}:{settings.forward_port}")
        for name, upstream in sorted(routes.overridden.items()):
            host = "Azure OpenAI hosts" if name == "azure" else default_hosts.get(name, name)
            lines.append(f"    {host} -> {upstream.url}")
    if settings.admin_port > 0:
        lines.append(f"  metrics: http://{settings.admin_host}:{settings.admin_port}/metrics")
    print("\n".join(lines), flush=True)
