"""The dashboard against a real Prometheus: after a scripted rehearsal (tests/dashboard_run.py),
every panel's query, every annotation and every variable returns data, and moves.

Grafana cannot run here; this is what it would do: expand the variables (All for job and
instance, `$__rate_interval` as Grafana computes it for a 1 s scrape interval) and ask
Prometheus's HTTP API for the range of the run. A query passes when some sample in that range is
a number other than 0: an empty result, only NaN (a quantile of nothing) or a flat 0 fails.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import dashboard_run
import grafana_check
from brownout.cli.runner import ProxySettings
from brownout.metrics import dashboard
from brownout.metrics import panels
from brownout.sim import SimServer
from conftest import PROVIDERS
from conftest import free_port
from conftest import start_scraped_proxy
from prom import Prometheus
from redis_server import RedisServer
from redis_server import redis_server  # noqa: F401  (the fixture)

# What Grafana would use with a 1 s scrape interval on a short range: four scrapes and a margin.
RATE_INTERVAL = "10s"


async def query_range(prometheus: Prometheus, expr: str, start: float, end: float) -> list[dict[str, Any]]:
    params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": "1"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{prometheus.url}/api/v1/query_range", params=params) as answer:
            payload = await answer.json()
    if payload.get("status") != "success":
        raise AssertionError(f"{expr}: {payload.get('errorType')}: {payload.get('error')}")
    result: list[dict[str, Any]] = payload["data"]["result"]
    return result


def moved(result: list[dict[str, Any]]) -> bool:
    return any(
        math.isfinite(value) and value != 0 for series in result for value in (float(v) for _, v in series["values"])
    )


async def test_every_panel_returns_data_after_a_rehearsal(
    prometheus: Prometheus,
    sim: SimServer,
    tmp_path: Path,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: brownout's upstream errors

    def upstream(provider: str) -> str:
        return dead if provider == dashboard_run.UNREACHABLE else sim.url

    library = tmp_path / "library"
    library.mkdir()
    for name, text in dashboard_run.SCENARIOS.items():
        (library / f"{name}.yaml").write_text(text)
    settings = ProxySettings(
        port=0,
        upstreams=[f"{name}={upstream(name)}/{name}" for name in PROVIDERS],
        library=str(library),
        termlog=False,
        # A replica of a fleet, so the Fleet row has a Redis link to show; Redis goes away at the end.
        extra_options={"brownout_retry_window": dashboard_run.RETRY_WINDOW, "brownout_redis": redis_server.url},
    )
    proxy = await start_scraped_proxy(prometheus, settings)
    try:
        started = time.time()
        tally = await dashboard_run.rehearse(proxy.url, proxy.admin_url)
        redis_server.stop(kill=True)  # the link goes down, and its errors count
        down = await prometheus.wait_for('max(brownout_redis_errors_total{job="brownout"})', lambda v: bool(v))
        assert down, "brownout counted no Redis error after Redis stopped"
        # Switched on again while Redis is away (it applies here at once): the rate limit decides alone.
        await dashboard_run.switch(proxy.admin_url, "dash-outage", True)
        await dashboard_run.limited_alone(proxy.url)
        alone = await prometheus.wait_for('max(brownout_redis_fallbacks_total{job="brownout"})', lambda v: bool(v))
        assert alone, "no request was decided alone while Redis was away"
        finished = time.time()
        await prometheus.wait_scraped_since(finished)
    finally:
        await proxy.stop()
    assert time.time() - started < 50, "the rehearsal must stay short"

    built = dashboard.build()
    checked, empty = 0, []
    for query in grafana_check.queries(built, {"__rate_interval": RATE_INTERVAL}):
        result = await query_range(prometheus, query.expr, started - 2, time.time())
        checked += 1
        if not moved(result):
            empty.append(f"{query.where}: {'only 0 or NaN' if result else 'no series'}\n    {query.expr}")
    assert not empty, f"{len(empty)} of {checked} queries showed nothing ({tally}):\n" + "\n".join(empty)
    # Both ways on from a bad answer happened: the checker re-asks, the taker carries on.
    bad = await query_range(
        prometheus, 'sum by (next) (brownout_client_bad_answers_total{job="brownout"})', started, time.time()
    )
    assert {series["metric"]["next"] for series in bad if moved([series])} == {"reasked", "carried_on"}, bad
    panels_with_targets = sum(len(p.queries) for p in panels.panels())
    assert checked == panels_with_targets + 2 + 2  # two annotations, job and instance

    # The instance picker: with another replica picked, no panel shows this one's data.
    elsewhere = {"__rate_interval": RATE_INTERVAL, "instance": "elsewhere:9180"}
    shown = []
    for query in grafana_check.queries(built, elsewhere):
        if not query.where.startswith("variable") and await query_range(prometheus, query.expr, started, time.time()):
            shown.append(query.where)
    assert not shown, f"these ignore the instance picked: {shown}"


async def test_the_check_fails_on_a_misspelt_metric(prometheus: Prometheus) -> None:
    """An empty answer is a failure (promtool query would exit 0 on it)."""
    now = time.time()
    result = await query_range(prometheus, 'sum(rate(brownout_request_total{job=~".*"}[10s]))', now - 30, now)
    assert not moved(result)
    with pytest.raises(AssertionError, match="parse error"):
        await query_range(prometheus, "sum(rate(brownout_requests_total[10s])", now - 30, now)
