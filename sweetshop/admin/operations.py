"""Admin pages for running the shop: sales report, downloads, CSV import, stock count, the outbox."""
import base64
import binascii
import hashlib
import hmac
import secrets

from flask import (Response, abort, current_app, flash, redirect, render_template, request,
                   stream_with_context, url_for)
from flask_login import current_user
from werkzeug.exceptions import BadRequest

from .. import charts, exports, imports, inventory, outbox, reports
from ..errors import (ImportAlreadyAppliedError, ImportRejectedError, MailNotFailedError, MailNotFoundError,
                      StockChangedError, SweetNotFoundError)
from ..forms import ConfirmForm, CountForm, ImportConfirmForm, ImportForm, LedgerRangeForm
from ..models import OutboxMail
from ..paging import with_query
from ..request_limits import allow_body
from ..wording import plural
from .views import bp, history_page

REPORT_CHOICES = (7, 30, 90, 365)
OUTBOX_PAGE_SIZE = 25


def _report_days():
    """``days`` from the query string; a bad value falls back to 30 with a message (it is a
    link or a choice on the page, so only a hand-edited URL gets here)."""
    text = request.args.get("days", "30")
    if text.isascii() and text.isdigit() and 1 <= int(text) <= reports.DAYS_MAX:
        return int(text), None
    return 30, f"Days must be a whole number from 1 to {reports.DAYS_MAX}; showing 30."


@bp.get("/report")
def report():
    days, problem = _report_days()
    sales = reports.sales_report(days)
    chart = charts.revenue_chart(sales.days, current_app.config["CURRENCY_SYMBOL"])
    return render_template("admin/report.html", sales=sales, chart=chart, days=days, problem=problem,
                           choices=REPORT_CHOICES), 422 if problem else 200


def _csv_download(chunks, filename):
    return Response(stream_with_context(chunks), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


def _data_page(ledger_form=None, import_form=None, status=200):
    return render_template("admin/data.html", ledger_form=ledger_form or LedgerRangeForm(formdata=None),
                           import_form=import_form or ImportForm(formdata=None),
                           max_bytes=current_app.config["IMPORT_MAX_BYTES"]), status


@bp.get("/data")
def data():
    """Downloads and the CSV import."""
    return _data_page()


@bp.get("/export/sweets.csv")
def export_sweets():
    return _csv_download(exports.sweets_csv(), "sweets.csv")


@bp.get("/export/ledger.csv")
def export_ledger():
    form = LedgerRangeForm(request.args)
    if not form.validate():
        return _data_page(ledger_form=form, status=422)
    return _csv_download(exports.ledger_csv(form.since.data or None, form.until.data or None), "ledger.csv")


@bp.get("/export/orders.csv")
def export_orders():
    return _csv_download(exports.orders_csv(), "orders.csv")


def _sign(token, content):
    message = token.encode("ascii") + b"\n" + content
    return hmac.new(current_app.config["SECRET_KEY"].encode(), message, hashlib.sha256).hexdigest()


@bp.post("/import")
@allow_body("IMPORT_MAX_BYTES", factor=1.5, extra=64 * 1024)
def import_upload():
    """Check the uploaded file and show what it would change; nothing changes yet."""
    form = ImportForm()
    if not form.validate():
        return _data_page(import_form=form, status=422)
    content = form.file.data.read()
    try:
        outcome = imports.check(content)
    except ImportRejectedError as error:
        return render_template("admin/import_preview.html", problems=error.rows, outcome=None,
                               filename=form.file.data.filename), 422
    # A new token for each preview: confirming it twice (a double click, a second tab) applies it once.
    token = secrets.token_urlsafe(24)
    confirm = ImportConfirmForm(formdata=None, content=base64.b64encode(content).decode("ascii"),
                                token=token, digest=_sign(token, content))
    return render_template("admin/import_preview.html", problems=None, outcome=outcome, confirm=confirm,
                           filename=form.file.data.filename)


def _previewed_file(form):
    """The file and token the preview showed.

    :raise BadRequest: the form was altered, or it is not this shop's preview.
    """
    try:
        content = base64.b64decode(form.content.data or "", validate=True)
    except (binascii.Error, ValueError):
        content = None
    token = form.token.data or ""
    if (content is None or not token.isascii() or len(token) > 64
            or not hmac.compare_digest(_sign(token, content), form.digest.data or "")):
        raise BadRequest("This is not the file the preview showed; upload it again.")
    return content, token


# The confirm form carries the file in base64 (4/3 of its size), hence the factor.
@bp.post("/import/confirm")
@allow_body("IMPORT_MAX_BYTES", factor=1.5, extra=64 * 1024)
def import_confirm():
    """Apply the previewed file, once: checked again against the catalogue as it is now, in one
    transaction with the preview's receipt."""
    form = ImportConfirmForm()
    if not form.validate():
        abort(400, "The form expired; upload the file again.")
    content, token = _previewed_file(form)
    try:
        outcome = imports.run(content, user_id=current_user.id, token=token)
    except ImportAlreadyAppliedError as error:
        return render_template("admin/import_preview.html", problems=None, outcome=None, filename=None,
                               receipt=error.receipt), 409
    except ImportRejectedError as error:
        return render_template("admin/import_preview.html", problems=error.rows or [
            {"line": None, "field": None, "message": error.detail}], outcome=None, filename=None), 422
    flash(f"Imported: {plural(outcome.created, 'new sweet')}, {outcome.updated} updated "
          f"(+{plural(outcome.restocked_units, 'unit')}).", "success")
    return redirect(url_for(".index"))


@bp.post("/sweets/<id:sweet_id>/count")
def count_stock(sweet_id):
    form = CountForm()
    if form.validate():
        try:
            sweet = inventory.count_stock(sweet_id, current_user.id, form.counted.data, form.seen.data,
                                          reason=form.reason.data)
        except SweetNotFoundError:
            flash("That sweet is no longer on sale; nothing was changed.", "error")
            return redirect(url_for(".index"))
        except StockChangedError as error:
            # Show the figure as it is now; the next submit compares against it.
            form.seen.data = error.quantity
            form.counted.errors.append(f"The stock moved meanwhile: it is now {error.quantity}. "
                                       "Count again, or confirm your figure against the new one.")
            return history_page(sweet_id, count_form=form, status=409)
        flash(f"Counted {sweet.name}: stock set to {sweet.quantity}.", "success")
        return redirect(url_for(".history", sweet_id=sweet_id))
    return history_page(sweet_id, count_form=form, status=422)


@bp.get("/outbox")
def outbox_page():
    """Every mail the shop wrote, newest first, with its text; "Send again" on a failed one."""
    status = request.args.get("status") or None
    if status not in (None, *OutboxMail.STATUSES):
        status = None
    page = max(request.args.get("page", 1, type=int), 1)
    mails = outbox.list_mails(status, skip=(page - 1) * OUTBOX_PAGE_SIZE, limit=OUTBOX_PAGE_SIZE + 1,
                              with_text=True)

    def page_url(number):
        return with_query(url_for(".outbox_page"), request.args, ("status",), page=number)

    # One mail more than a page says whether there is a next page, without counting them all.
    pages = page + 1 if len(mails) > OUTBOX_PAGE_SIZE else page
    return render_template("admin/outbox.html", mails=mails[:OUTBOX_PAGE_SIZE], status=status, page=page,
                           pages=pages, page_url=page_url, statuses=OutboxMail.STATUSES,
                           retry_form=ConfirmForm(formdata=None),
                           sending=bool(current_app.config.get("MAIL_SERVER")))


@bp.post("/outbox/<id:mail_id>/retry")
def retry_mail(mail_id):
    if ConfirmForm().validate_on_submit():
        try:
            outbox.retry(mail_id)
            flash(f"Mail {mail_id} will be sent again.", "success")
        except (MailNotFoundError, MailNotFailedError) as error:
            flash(f"Mail {mail_id}: {error.detail}.", "error")
    return redirect(url_for(".outbox_page", status=request.args.get("status")))
