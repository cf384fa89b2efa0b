"""The sales report: units and takings per shop day, best sellers, and what to reorder.

Everything is summed by the database (GROUP BY over the stock ledger); Python only fills
in the days without sales and rounds. Sales are the ledger's ``purchase`` rows less its
``return`` rows (the units a cancelled order gave back), so a cancelled order nets to
nothing and "cancelled orders do not count" needs no special case. A ``return`` row carries
no unit price of its own (orders.cancel_order); its units go back at the price of its
order line, looked up by the line's key (order_id, sweet_id) for return rows only.

Days are the shop's days (``SHOP_TIMEZONE``, e.g. Europe/London), not UTC days. Python
works out the UTC instants at which the report's first and last local days begin and end
(zoneinfo knows the summer-time shifts), and the database is asked only for ledger rows
between them, which an index on ``created_at`` can find. Grouping by local date is done per
dialect, because the two databases differ here:
- PostgreSQL knows time zones: ``date(timezone(:zone, created_at))``;
- SQLite does not, so the row's UTC time is shifted by the zone's UTC offset in force at
  that instant: ``date(created_at, CASE WHEN created_at < :shift1 THEN '+0 minutes' ...)``.
  The offset changes only at the (at most a few) summer-time shifts inside the report's
  range, which Python finds, so the CASE has a branch or three, not one per day.
"""
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import case, cast, func, literal, select
from sqlalchemy import Date as SqlDate

from .extensions import db
from .models import OrderLine, StockMovement, Sweet, utcnow

DAYS_MAX = 366
TOP = 10
COVER_WINDOW_DAYS = 14
SALE_KINDS = (StockMovement.PURCHASE, StockMovement.RETURN)
movements = StockMovement.__table__
sweets = Sweet.__table__
order_lines = OrderLine.__table__
# Units sold by a ledger row: a purchase's change is negative, a return's positive.
UNITS = -movements.c.change
# A return row's price is its order line's (COALESCE evaluates the lookup only when the row
# has no price of its own, i.e. for returns: one primary-key probe each).
_LINE_PRICE = (select(order_lines.c.unit_price)
               .where(order_lines.c.order_id == movements.c.order_id,
                      order_lines.c.sweet_id == movements.c.sweet_id)
               .scalar_subquery())
REVENUE = -movements.c.change * func.coalesce(movements.c.unit_price, _LINE_PRICE, 0)


@dataclass
class SalesReport:
    days: list       # [{"date", "units", "revenue"}], oldest first, one per day
    top: list        # [{"sweet_id", "name", "units", "revenue"}]
    reorder: list    # [{"sweet_id", "name", "quantity", "days_of_cover"}]

    def as_json(self):
        return {"days": self.days, "top": self.top, "reorder": self.reorder}

    @property
    def revenue(self):
        return round(sum(Decimal(str(day["revenue"])) for day in self.days), 2)

    @property
    def units(self):
        return sum(day["units"] for day in self.days)


def shop_zone():
    return ZoneInfo(current_app.config["SHOP_TIMEZONE"])


def local_today(zone, now=None):
    return (now or utcnow()).astimezone(zone).date()


def midnight_utc(day, zone):
    """The UTC instant at which the local ``day`` begins."""
    return datetime.combine(day, time(0), zone).astimezone(timezone.utc)


def _money(value):
    return float(Decimal(str(value or 0)).quantize(Decimal("0.01")))


def _offset_shifts(start, end, zone):
    """``[(instant, minutes)]``: the zone's UTC offset in minutes from each instant on, for the
    UTC range ``start``..``end`` (the first entry is ``start`` itself)."""
    def minutes(moment):
        return int(moment.astimezone(zone).utcoffset().total_seconds() // 60)

    shifts = [(start, minutes(start))]
    moment = start
    while moment < end:
        following = min(moment + timedelta(hours=1), end)
        if minutes(following) != shifts[-1][1]:
            # Summer-time shifts fall on the hour in every zone a shop is likely to be in;
            # narrow down to the minute anyway, to be exact.
            low = moment
            while following - low > timedelta(minutes=1):
                middle = low + (following - low) / 2
                if minutes(middle) == shifts[-1][1]:
                    low = middle
                else:
                    following = middle
            shifts.append((following, minutes(following)))
        moment = following
    return shifts


def _local_date(start, end, zone):
    """A SQL expression for the shop's date of a ledger row created between ``start`` and ``end``."""
    created = movements.c.created_at
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(literal(zone.key), created), SqlDate)
    shifts = _offset_shifts(start, end, zone)
    modifier = literal(f"{shifts[-1][1]:+d} minutes")
    if len(shifts) > 1:
        modifier = case(*[(created < instant, f"{minutes:+d} minutes")
                          for (_, minutes), (instant, _) in zip(shifts, shifts[1:])],
                        else_=f"{shifts[-1][1]:+d} minutes")
    return func.date(created, modifier)


def sales_report(days=30, now=None):
    """The report for the last ``days`` shop days, today included."""
    zone = shop_zone()
    now = now or utcnow()
    today = local_today(zone, now)
    first = today - timedelta(days=days - 1)
    start, end = midnight_utc(first, zone), midnight_utc(today + timedelta(days=1), zone)
    in_range = (movements.c.kind.in_(SALE_KINDS), movements.c.created_at >= start,
                movements.c.created_at < end)

    day = _local_date(start, end, zone).label("day")
    per_day = {str(row.day): row for row in db.session.execute(
        select(day, func.sum(UNITS).label("units"), func.sum(REVENUE).label("revenue"))
        .where(*in_range).group_by(day))}
    day_rows = []
    for offset in range(days):
        key = (first + timedelta(days=offset)).isoformat()
        row = per_day.get(key)
        day_rows.append({"date": key, "units": int(row.units) if row else 0,
                         "revenue": _money(row.revenue if row else 0)})

    units, revenue = func.sum(UNITS).label("units"), func.sum(REVENUE).label("revenue")
    top = db.session.execute(
        select(sweets.c.id, sweets.c.name, units, revenue)
        .join(sweets, sweets.c.id == movements.c.sweet_id)
        .where(*in_range).group_by(sweets.c.id, sweets.c.name)
        .having(func.sum(UNITS) > 0)
        .order_by(units.desc(), revenue.desc(), sweets.c.name).limit(TOP)).all()

    reorder = _reorder(now)
    return SalesReport(
        days=day_rows,
        top=[{"sweet_id": r.id, "name": r.name, "units": int(r.units), "revenue": _money(r.revenue)}
             for r in top],
        reorder=reorder)


def _reorder(now):
    """Sweets on sale running low: fewer than ``REORDER_COVER_DAYS`` days of cover at the
    last 14 days' rate of sale, or (none sold lately) at most ``LOW_STOCK_THRESHOLD`` left.

    Days of cover = stock / average units sold per day over the last 14 days; lowest first.
    """
    sold = (select(movements.c.sweet_id, func.sum(UNITS).label("units"))
            .where(movements.c.kind.in_(SALE_KINDS),
                   movements.c.created_at >= now - timedelta(days=COVER_WINDOW_DAYS))
            .group_by(movements.c.sweet_id).subquery())
    # Only a positive rate gives a cover figure; none sold (or all returned) gives NULL.
    rate = case((sold.c.units > 0, sold.c.units * 1.0 / COVER_WINDOW_DAYS), else_=None)
    cover = (sweets.c.quantity / rate).label("cover")
    config = current_app.config
    rows = db.session.execute(
        select(sweets.c.id, sweets.c.name, sweets.c.quantity, cover)
        .outerjoin(sold, sold.c.sweet_id == sweets.c.id)
        .where(sweets.c.archived_at.is_(None),
               (cover < config["REORDER_COVER_DAYS"]) | (sweets.c.quantity <= config["LOW_STOCK_THRESHOLD"]))
        .order_by(cover.is_(None), cover, sweets.c.quantity, sweets.c.name)).all()
    return [{"sweet_id": r.id, "name": r.name, "quantity": r.quantity,
             "days_of_cover": None if r.cover is None else round(float(r.cover), 1)} for r in rows]


def nice_ceiling(value):
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value`` (a chart's top)."""
    if value <= 0:
        return Decimal(1)
    power = Decimal(1)
    while power * 10 <= value:
        power *= 10
    while power > value:
        power /= 10
    for step in (1, 2, Decimal("2.5"), 5, 10):
        if power * step >= value:
            return power * step
    return power * 10
