#!/usr/bin/env python3
"""Charts a rate sweep of `tandem bench --json` as an SVG file.

Usage: scripts/bench-chart.py SWEEP_JSON OUT_SVG [--date TEXT]

Offered rate on the x axis; finalized throughput on the left axis (linear, with the line where
everything offered is finalized, for reference) and p50/p99 latency on the right axis (log
scale, since latency grows by orders of magnitude past saturation). --date goes in the title.
Standard library only, so that it runs wherever the scripts do.
"""

import argparse
import datetime
import json
import math
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 820, 500
# The plot area inside the picture; the margins hold the axes' labels, the title and the legend.
LEFT, RIGHT, TOP, BOTTOM = 90, 730, 70, 400

THROUGHPUT_COLOR = "#1f77b4"
P50_COLOR = "#ff7f0e"
P99_COLOR = "#d62728"
GRID_COLOR = "#e5e5e5"


def nice_ticks(top, count=5):
    """Ticks from 0 to a round number at least `top`, about `count` of them."""
    if top <= 0:
        top = 1
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks_count = math.ceil(top / step - 1e-9)
    return [step * k for k in range(ticks_count + 1)]


def log_decades(values):
    """Powers of ten spanning the positive values (1 ms to 1 s when there are none)."""
    positive = [v for v in values if v > 0]
    if not positive:
        return [10.0**k for k in range(0, 4)]
    low = math.floor(math.log10(min(positive)))
    high = max(math.ceil(math.log10(max(positive))), low + 1)
    return [10.0**k for k in range(low, high + 1)]


def fmt(value):
    """A tick label: thousands separated, no needless decimals."""
    if value >= 1 or value == 0:
        return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
    return f"{value:g}"


class Chart:
    def __init__(self):
        self.parts = []

    def add(self, element):
        self.parts.append(element)

    def line(self, x1, y1, x2, y2, color="#000", width=1, dash=None):
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{color}" stroke-width="{width}"{extra}/>'
        )

    def text(self, x, y, content, anchor="middle", size=12, extra=""):
        self.add(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-family="sans-serif" '
            f'font-size="{size}"{extra}>{escape(content)}</text>'
        )

    def series(self, points, color, marker, dash=None):
        """A polyline through the points, with a marker ("circle" or "square") on each."""
        if not points:
            return
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        self.add(
            f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"{extra}/>'
        )
        for x, y in points:
            self.marker(x, y, color, marker)

    def marker(self, x, y, color, kind):
        if kind == "circle":
            self.add(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{color}"/>')
        else:
            self.add(f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{color}"/>')

    def svg(self):
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}">\n'
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>\n'
            + "\n".join(self.parts)
            + "\n</svg>\n"
        )


def draw(steps, endpoints, date):
    steps = sorted(steps, key=lambda step: step["offered_tps"])
    offered = [step["offered_tps"] for step in steps]
    throughput = [step["throughput_tps"] for step in steps]
    p50 = [step["latency_ms"]["p50"] for step in steps]
    p99 = [step["latency_ms"]["p99"] for step in steps]

    # Both rate axes share one scale, so the reference line is the diagonal.
    rate_ticks = nice_ticks(max(offered + throughput))
    rate_top = rate_ticks[-1]
    decades = log_decades(p50 + p99)
    log_low, log_high = math.log10(decades[0]), math.log10(decades[-1])

    def x_of(rate):
        return LEFT + (RIGHT - LEFT) * rate / rate_top

    def y_rate(rate):
        return BOTTOM - (BOTTOM - TOP) * rate / rate_top

    def y_latency(ms):
        return BOTTOM - (BOTTOM - TOP) * (math.log10(ms) - log_low) / (log_high - log_low)

    chart = Chart()
    seconds = steps[0]["duration_s"] if steps else 0
    chart.text(
        (LEFT + RIGHT) / 2, 28, f"Tandem standard benchmark: rate sweep, {date}",
        size=16, extra=' font-weight="bold"',
    )
    chart.text(
        (LEFT + RIGHT) / 2, 48,
        f"{len(endpoints)} validators on one machine, {seconds:g} s of load per rate",
    )

    # Grid and ticks: rate ticks on the x and left axes, latency decades on the right axis.
    for tick in rate_ticks:
        x, y = x_of(tick), y_rate(tick)
        chart.line(x, TOP, x, BOTTOM, GRID_COLOR)
        chart.line(LEFT, y, RIGHT, y, GRID_COLOR)
        chart.line(x, BOTTOM, x, BOTTOM + 5)
        chart.text(x, BOTTOM + 19, fmt(tick))
        chart.line(LEFT - 5, y, LEFT, y)
        chart.text(LEFT - 8, y + 4, fmt(tick), anchor="end")
    # 1, 2 and 5 of each decade: decades alone leave two or three labels on a short range.
    for tick in [decade * m for decade in decades[:-1] for m in (1, 2, 5)] + decades[-1:]:
        y = y_latency(tick)
        chart.line(RIGHT, y, RIGHT + 5, y)
        chart.text(RIGHT + 8, y + 4, fmt(tick), anchor="start")

    # Axes and their labels.
    chart.line(LEFT, BOTTOM, RIGHT, BOTTOM)
    chart.line(LEFT, TOP, LEFT, BOTTOM)
    chart.line(RIGHT, TOP, RIGHT, BOTTOM)
    chart.text((LEFT + RIGHT) / 2, BOTTOM + 42, "offered rate (tx/s)")
    middle = (TOP + BOTTOM) / 2
    chart.text(
        28, middle, "finalized throughput (tx/s)",
        extra=f' transform="rotate(-90 28 {middle:.1f})"',
    )
    chart.text(
        WIDTH - 22, middle, "latency (ms, log scale)",
        extra=f' transform="rotate(90 {WIDTH - 22} {middle:.1f})"',
    )

    # The data; latencies of 0 (nothing finalized) have no place on a log scale.
    chart.line(x_of(0), y_rate(0), x_of(rate_top), y_rate(rate_top), "#999", dash="2,4")
    chart.series(
        [(x_of(o), y_rate(t)) for o, t in zip(offered, throughput)], THROUGHPUT_COLOR, "circle"
    )
    chart.series(
        [(x_of(o), y_latency(v)) for o, v in zip(offered, p50) if v > 0], P50_COLOR, "square"
    )
    chart.series(
        [(x_of(o), y_latency(v)) for o, v in zip(offered, p99) if v > 0], P99_COLOR, "square",
        dash="6,3",
    )

    # The legend, in one row under the x axis label.
    entries = [
        ("finalized throughput (left)", THROUGHPUT_COLOR, "circle", None),
        ("p50 latency (right)", P50_COLOR, "square", None),
        ("p99 latency (right)", P99_COLOR, "square", "6,3"),
        ("finalized = offered", "#999", None, "2,4"),
    ]
    x = LEFT
    y = BOTTOM + 75
    for label, color, marker, dash in entries:
        chart.line(x, y, x + 28, y, color, 1 if marker is None else 2, dash)
        if marker:
            chart.marker(x + 14, y, color, marker)
        chart.text(x + 34, y + 4, label, anchor="start")
        x += 44 + 6.5 * len(label)
    return chart.svg()


def main():
    parser = argparse.ArgumentParser(description="Charts a tandem bench sweep as SVG.")
    parser.add_argument("sweep_json", help="the JSON file of `tandem bench --sweep … --json`")
    parser.add_argument("out_svg", help="the SVG file to write")
    parser.add_argument(
        "--date", default=datetime.date.today().isoformat(), help="the date for the title (today)"
    )
    args = parser.parse_args()
    with open(args.sweep_json) as f:
        results = json.load(f)
    if not results.get("steps"):
        parser.error(f"{args.sweep_json} has no steps")
    svg = draw(results["steps"], results.get("endpoints", []), args.date)
    with open(args.out_svg, "w") as f:
        f.write(svg)


if __name__ == "__main__":
    main()
