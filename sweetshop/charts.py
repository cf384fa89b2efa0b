"""The revenue chart of the sales report, laid out in Python and drawn as SVG by a template.

Rendered on the server (no JavaScript) with SVG presentation attributes only: the pages'
Content-Security-Policy forbids inline ``style``, and attributes are not styles. The drawing
is 400 units wide with 13-unit text, so on a 390 px phone (about 350 px of chart) the
labels still read at about 11 px; on a desktop the stylesheet caps its width.
"""
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from .reports import nice_ceiling
from .wording import money, plural

WIDTH, HEIGHT = 400, 240
# Room on the left for a money label with two decimals ("£1,000.00") at 13 units.
LEFT, RIGHT, TOP, BOTTOM = 70, 10, 14, 34


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # a tooltip: the day and its takings


def _short(day):
    return date.fromisoformat(day).strftime("%-d %b")


def revenue_chart(days, currency="£"):
    """What the template draws: bars of revenue per day, a y axis from 0 to a round top, and
    the first, middle and last dates under the x axis. ``empty`` when nothing sold."""
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    revenues = [Decimal(str(day["revenue"])) for day in days]
    top = nice_ceiling(max(revenues, default=0))
    slot = plot_width / len(days)
    bars = []
    for index, (day, revenue) in enumerate(zip(days, revenues)):
        height = float(revenue / top) * plot_height
        bars.append(Bar(x=round(LEFT + index * slot + slot * 0.15, 2), y=round(TOP + plot_height - height, 2),
                        width=round(max(slot * 0.7, 0.6), 2), height=round(height, 2),
                        label=f"{day['date']}: {money(revenue, currency)}, {plural(day['units'], 'unit')}"))
    ticks = [(round(TOP + plot_height * (1 - fraction), 2), money(top * Decimal(fraction), currency))
             for fraction in (0, 0.5, 1)]
    picks = sorted({0, len(days) // 2, len(days) - 1})
    x_labels = [(round(LEFT + (i + 0.5) * slot, 2), _short(days[i]["date"]),
                 "start" if i == 0 and len(picks) > 1 else "end" if i == len(days) - 1 and len(picks) > 1
                 else "middle")
                for i in picks]
    return {"width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "top": TOP,
            "bottom": TOP + plot_height, "bars": bars, "ticks": ticks, "x_labels": x_labels,
            "empty": not any(revenues), "middle": LEFT + plot_width / 2, "days": len(days)}
