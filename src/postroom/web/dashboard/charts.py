"""Charts as server-rendered SVG (no script): stacked bars per day, a person's events below a
machine's, with a title, labelled axes and a text alternative for screen readers."""

from __future__ import annotations

from datetime import datetime, timedelta

from markupsafe import Markup, escape

WIDTH = 720
HEIGHT = 220
_LEFT, _BOTTOM, _TOP = 40, 28, 12
SERIES = (("human", "person", "bar-human"), ("machine", "machine", "bar-machine"))


def day_labels(since: datetime, days: int) -> list[str]:
    return [(since + timedelta(days=n)).strftime("%Y-%m-%d") for n in range(days)]


def stacked_bars(title: str, days: list[str], values: dict[str, dict[str, int]]) -> Markup:
    """One bar per day, split into people's and machines' events."""
    totals = [sum(values.get(day, {}).values()) for day in days]
    peak = max([*totals, 1])
    plot_w, plot_h = WIDTH - _LEFT - 8, HEIGHT - _BOTTOM - _TOP
    step = plot_w / max(len(days), 1)
    width = max(step * 0.8, 1.0)
    people = sum(values.get(d, {}).get("human", 0) for d in days)
    machines = sum(values.get(d, {}).get("machine", 0) for d in days)
    summary = f"{title}: {people} by people and {machines} by machines in {len(days)} days"
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(summary)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(summary)}</title>",
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{WIDTH - 8}" '
        f'y2="{_TOP + plot_h}"/>',
        f'<text class="tick" x="{_LEFT - 6}" y="{_TOP + 8}" text-anchor="end">{peak}</text>',
        f'<text class="tick" x="{_LEFT - 6}" y="{_TOP + plot_h}" text-anchor="end">0</text>',
    ]
    for index, day in enumerate(days):
        x = _LEFT + index * step + (step - width) / 2
        base = float(_TOP + plot_h)
        for key, who, css in SERIES:
            count = values.get(day, {}).get(key, 0)
            if not count:
                continue
            height = plot_h * count / peak
            base -= height
            parts.append(
                f'<rect class="{css}" x="{x:.1f}" y="{base:.1f}" width="{width:.1f}" '
                f'height="{height:.1f}"><title>{escape(day)}: {count} by {who}</title></rect>'
            )
        if index % max(len(days) // 6, 1) == 0:
            parts.append(
                f'<text class="tick" x="{x + width / 2:.1f}" y="{HEIGHT - 8}" '
                f'text-anchor="middle">{escape(day[5:])}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
