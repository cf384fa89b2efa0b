"""API for running the shop sales report, CSV out and in, stock counts."""
import hashlib

from flask import Response, abort, current_app, g, request, stream_with_context
from werkzeug.exceptions import RequestEntityTooLarge

from .. import exports, imports, inventory, reports
from ..errors import ValidationError
from ..request_limits import allow_body
from ..rules import STOCK_COUNT, clean_day
from .blueprint import bp
from .http import auth_required, idempotency_key, json_body, query_int, sweet_json

CSV_TYPES = ("text/csv", "application/csv")


def csv_download(chunks, filename):
    """A streamed ``text/csv`` attachment; the generator runs inside the request's context."""
    return Response(stream_with_context(chunks), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


def query_day(name):
    """An optional ``YYYY-MM-DD`` query parameter. :raise ValidationError:"""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return clean_day(text)
    except ValueError as error:
        raise ValidationError({name: [str(error)]}) from None


def ledger_range():
    """``(since, until)`` from the query string. :raise ValidationError: bad or reversed dates."""
    since, until = query_day("since"), query_day("until")
    if since and until and since > until:
        raise ValidationError({"since": ["Must not be after until."]})
    return since, until


@bp.get("/reports/sales")
@auth_required(admin=True)
def sales_report():
    days = query_int("days", 30, 1, reports.DAYS_MAX)
    return reports.sales_report(days).as_json()


@bp.get("/export/sweets.csv")
@auth_required(admin=True)
def export_sweets():
    return csv_download(exports.sweets_csv(), "sweets.csv")


@bp.get("/export/ledger.csv")
@auth_required(admin=True)
def export_ledger():
    since, until = ledger_range()
    return csv_download(exports.ledger_csv(since, until), "ledger.csv")


@bp.get("/export/orders.csv")
@auth_required(admin=True)
def export_orders():
    return csv_download(exports.orders_csv(), "orders.csv")


@bp.post("/sweets/import")
@auth_required(admin=True)
@allow_body("IMPORT_MAX_BYTES")
def import_sweets():
    if request.mimetype not in CSV_TYPES:
        abort(415, "Send the file as the body with Content-Type: text/csv")
    try:
        data = request.get_data(cache=False)
    except RequestEntityTooLarge:
        abort(413, f"Import files are limited to {current_app.config['IMPORT_MAX_BYTES']} bytes")
    dry_run = request.args.get("dry_run", "0").strip().lower()
    if dry_run not in ("0", "1", "true", "false"):
        raise ValidationError({"dry_run": ["Must be 1 or 0."]})
    key = idempotency_key()
    # The key becomes the import's receipt token, scoped to the admin (as a purchase's key is to
    # its buyer): a script that retries after a lost answer applies its file once.
    token = None if key is None else hashlib.sha256(f"api:{g.user.id}:{key}".encode()).hexdigest()
    outcome = imports.run(data, user_id=g.user.id, dry_run=dry_run in ("1", "true"), token=token)
    return outcome.summary()


@bp.post("/sweets/<id:sweet_id>/count")
@auth_required(admin=True)
def count_stock(sweet_id):
    data = STOCK_COUNT.clean(json_body())
    return sweet_json(inventory.count_stock(sweet_id, g.user.id, data["counted"], data["seen"]))
