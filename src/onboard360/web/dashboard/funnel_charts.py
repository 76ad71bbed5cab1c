"""The funnel page's charts as SVG geometry, computed here and drawn by the template
(``funnel.html``): no script, no build step, and a ``viewBox`` so each chart scales to
the screen's width, a phone's included. Colours come from dashboard.css classes (the
pages' CSP allows no inline style)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from onboard360.db.queries.funnel import Day
from onboard360.domain.funnel import OUTCOMES

WIDTH = 360  # viewBox units; the charts are drawn 100% wide
TTL_WIDTH = 480  # room for eight bucket labels side by side
BAR = 22  # one step's bar height in the conversion chart
LABEL = 92  # room for the step's name left of its bar
PLOT = 150  # the per-day and time-to-live plots' height


def duration(seconds: float | None) -> str:
    """A time for people: ``42 s``, ``3.5 min``, ``2.1 h``, ``1.5 d``; ``—`` for none."""
    if seconds is None:
        return "—"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f}%"


def conversion_chart(steps: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One horizontal bar per step, as long as its share of the journeys started."""
    top = max(steps[0]["reached"], 1) if steps else 1
    room = WIDTH - LABEL - 4
    bars = []
    for i, step in enumerate(steps):
        width = room * step["reached"] / top
        share = "" if step["conversion"] is None else f" · {percent(step['conversion'])}"
        bars.append(
            {
                "step": step["step"],
                "label": step["step"].replace("_", " "),
                "y": i * (BAR + 6),
                "width": round(max(width, 0.5 if step["reached"] else 0), 1),
                "x": LABEL,
                "text": f"{step['reached']}{share}",
                # A long bar holds its number at its end, a short one after it.
                "inside": width > room - 80,
                "text_x": round(LABEL + width - 4 if width > room - 80 else LABEL + width + 4, 1),
            }
        )
    return {"width": WIDTH, "height": len(steps) * (BAR + 6), "bar": BAR, "bars": bars}


def days_chart(days: Sequence[Day]) -> dict[str, Any]:
    """Stacked bars per day (oldest left): live, abandoned, in progress."""
    ordered = list(reversed(days))
    top = max((d.started for d in ordered), default=0) or 1
    step = WIDTH / max(len(ordered), 1)
    gap = 0.15 * step if step > 4 else 0
    columns = []
    for i, day in enumerate(ordered):
        y = PLOT
        parts = []
        for outcome in OUTCOMES:
            height = PLOT * day.outcomes[outcome] / top
            if height:
                y -= height
                parts.append({"outcome": outcome, "y": round(y, 2), "height": round(height, 2)})
        columns.append(
            {
                "day": day.day.isoformat(),
                "x": round(i * step + gap / 2, 2),
                "width": round(step - gap, 2),
                "parts": parts,
                "title": f"{day.day.isoformat()}: {day.started} started, "
                + ", ".join(f"{day.outcomes[o]} {o.replace('_', ' ')}" for o in OUTCOMES),
            }
        )
    first = ordered[0].day.isoformat() if ordered else ""
    last = ordered[-1].day.isoformat() if ordered else ""
    return {
        "width": WIDTH,
        "height": PLOT,
        "top": top,
        "columns": columns,
        "first": first,
        "last": last,
    }


def ttl_chart(buckets: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One vertical bar per time-to-live bucket."""
    top = max((b["journeys"] for b in buckets), default=0) or 1
    step = TTL_WIDTH / max(len(buckets), 1)
    bars = []
    for i, bucket in enumerate(buckets):
        height = PLOT * bucket["journeys"] / top
        bars.append(
            {
                "label": bucket["label"],
                "journeys": bucket["journeys"],
                "x": round(i * step + step * 0.1, 2),
                "width": round(step * 0.8, 2),
                "y": round(PLOT - height, 2),
                "height": round(height, 2),
                "center": round(i * step + step / 2, 2),
            }
        )
    return {"width": TTL_WIDTH, "height": PLOT, "bars": bars}
