"""A report as one self-contained HTML page: the verdicts, and two charts drawn as inline SVG (no
script, no network): attempts, successes and faulted attempts over time with the scenarios' on
periods shaded, and each retry's wait against what Retry-After asked.
"""

from __future__ import annotations

import html
from typing import Any

from brownout.report.verdicts import QUESTIONS
from brownout.report.verdicts import VERDICTS

WIDTH, HEIGHT, PAD = 760, 220, 36
COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "not_exercised": "#8c959f"}
MARKS = {"pass": "pass", "fail": "FAIL", "not_exercised": "-"}
SERIES = (("attempts", "#0969da"), ("successes", "#1a7f37"), ("faulted", "#cf222e"))


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _polyline(values: list[int], top: int, step_x: float, colour: str) -> str:
    scale = (HEIGHT - 2 * PAD) / max(1, top)
    points = " ".join(f"{PAD + i * step_x:.1f},{HEIGHT - PAD - v * scale:.1f}" for i, v in enumerate(values))
    return f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'


def timeline_svg(report: dict[str, Any]) -> str:
    line = report["timeline"]
    n = max(1, len(line["attempts"]))
    step_x = (WIDTH - 2 * PAD) / max(1, n - 1)
    top = max([1, *line["attempts"], *line["successes"], *line["faulted"]])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img">']
    parts.append(f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>')
    span = max(1.0, line["step"] * (n - 1))
    for scenario in report["scenarios"]:
        for start, end in scenario["on"]:
            left = PAD + max(0.0, (start - line["start"]) / span) * (WIDTH - 2 * PAD)
            right_at = report["ended"] if end is None else end
            right = PAD + min(1.0, (right_at - line["start"]) / span) * (WIDTH - 2 * PAD)
            parts.append(
                f'<rect x="{left:.1f}" y="{PAD}" width="{max(1.0, right - left):.1f}" height="{HEIGHT - 2 * PAD}" '
                f'fill="#fff1c2"><title>{_e(scenario["name"])} on</title></rect>'
            )
    parts.append(
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#57606a"/>'
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#57606a"/>'
        f'<text x="4" y="{PAD + 4}" font-size="11">{top}</text><text x="4" y="{HEIGHT - PAD}" font-size="11">0</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" font-size="11" text-anchor="end">{span:.0f} s</text>'
    )
    for key, colour in SERIES:
        parts.append(_polyline(line[key], top, step_x, colour))
    for i, (key, colour) in enumerate(SERIES):
        parts.append(
            f'<rect x="{PAD + 10 + i * 120}" y="8" width="12" height="12" fill="{colour}"/>'
            f'<text x="{PAD + 26 + i * 120}" y="18" font-size="12">{key}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def waits_svg(report: dict[str, Any]) -> str:
    waits = report["retry_waits"]
    top = max([1.0, *(w["asked"] for w in waits), *(w["waited"] for w in waits)]) * 1.1
    scale = (HEIGHT - 2 * PAD) / top
    x0, y0 = PAD, HEIGHT - PAD
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{HEIGHT + 2 * PAD}" height="{HEIGHT}" role="img">']
    parts.append(f'<rect width="{HEIGHT + 2 * PAD}" height="{HEIGHT}" fill="#ffffff"/>')
    size = HEIGHT - 2 * PAD
    parts.append(
        f'<line x1="{x0}" y1="{y0}" x2="{x0 + size}" y2="{y0}" stroke="#57606a"/>'
        f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y0 - size}" stroke="#57606a"/>'
        f'<line x1="{x0}" y1="{y0}" x2="{x0 + size}" y2="{y0 - size}" stroke="#8c959f" stroke-dasharray="4 3"/>'
        f'<text x="{x0 + size}" y="{HEIGHT - 8}" font-size="11" text-anchor="end">asked (s)</text>'
        f'<text x="4" y="{PAD - 8}" font-size="11">waited (s), top {top:.1f}</text>'
    )
    for wait in waits:
        early = wait["waited"] < wait["asked"]
        colour = COLOURS["fail"] if early else COLOURS["pass"]
        cx, cy = x0 + wait["asked"] * scale, y0 - wait["waited"] * scale
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{colour}">'
            f"<title>{_e(wait['client'])}: asked {wait['asked']} s, waited {wait['waited']} s</title></circle>"
        )
    if not waits:
        parts.append(f'<text x="{x0 + 20}" y="{y0 - size / 2}" font-size="13">no retry after a Retry-After</text>')
    parts.append("</svg>")
    return "".join(parts)


def render(report: dict[str, Any]) -> str:
    rows = []
    for client in report["clients"]:
        cells = "".join(
            f'<td style="color:{COLOURS[v["verdict"]]}" title="{_e(v["summary"])}">{MARKS[v["verdict"]]}</td>'
            for v in (client["verdicts"][name] for name in VERDICTS)
        )
        rows.append(
            f"<tr><th>{_e(client['client'])}</th><td>{_e(client['provider'])}</td>"
            f"<td>{client['attempts']}</td><td>{client['retries']}</td>{cells}</tr>"
        )
    failures = [
        f"<li><b>{_e(c['client'])} at {_e(c['provider'])}, {name}</b>: {_e(v['summary'])}. {_e(v['advice'])}</li>"
        for c in report["clients"]
        for name, v in c["verdicts"].items()
        if v["verdict"] == "fail"
    ]
    legend = "".join(f"<li><b>{name}</b>: {_e(QUESTIONS[name])}</li>" for name in VERDICTS)
    heads = "".join(f"<th>{name.replace('_', ' ')}</th>" for name in VERDICTS)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>brownout report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #1f2328; }}
table {{ border-collapse: collapse; margin: 12px 0; }}
th, td {{ border: 1px solid #d0d7de; padding: 4px 8px; font-size: 13px; text-align: center; }}
tr th:first-child {{ text-align: left; }}
h2 {{ margin-top: 28px; }}
</style></head><body>
<h1>brownout report</h1>
<p>{report["attempts"]} attempts over {report["seconds"]:.0f} s, {len(report["clients"])} client(s);
scenarios: {_e(", ".join(s["name"] for s in report["scenarios"]) or "none switched")}.</p>
<h2>Verdicts</h2>
<table><tr><th>client</th><th>provider</th><th>attempts</th><th>retries</th>{heads}</tr>
{"".join(rows)}</table>
<h2>What to change</h2>
<ul>{"".join(failures) or "<li>nothing failed</li>"}</ul>
<h2>Faults against attempts and successes</h2>
{timeline_svg(report)}
<h2>Retry waits against Retry-After</h2>
{waits_svg(report)}
<h2>What each verdict asks</h2>
<ul>{legend}</ul>
</body></html>
"""
