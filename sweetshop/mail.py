"""The mails the shop writes: what each says and to whom. Each ``queue_*`` writes its mail into
the outbox in the caller's transaction (the caller commits), so it leaves if and only if what
caused it committed.

Every mail is plain text with an HTML alternative, rendered from ``templates/mail/``: the HTML
templates escape what users typed (Jinja's autoescape), and the subject is one line (outbox.py).
Order mails go to the customer's verified address only; an address not yet verified receives
nothing but its verification and password-reset links.
"""
from flask import current_app
from sqlalchemy import (Integer, String, and_, bindparam, case, cast, func, insert, literal_column, select,
                        true)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from . import outbox
from .extensions import db
from .models import OutboxMail, Timestamp, User

users = User.__table__


def _render(name, **context):
    """``templates/mail/<name>.txt`` and ``.html``, rendered without a request: the app's
    context processors (which read the session) are not run, only its filters are used."""
    env = current_app.jinja_env
    context = dict(context, shop_url=outbox.public_url(),
                   collection_note=current_app.config.get("COLLECTION_NOTE"))
    return (env.get_template(f"mail/{name}.txt").render(context),
            env.get_template(f"mail/{name}.html").render(context))


def _queue(to, subject, name, **context):
    text, html = _render(name, **context)
    outbox.queue(to, subject, text, html)


def link(path):
    """An absolute link for a mail, always from ``PUBLIC_URL`` (see ``outbox.public_url``)."""
    return outbox.public_url() + path


def queue_verification(username, email, token):
    _queue(email, "Please confirm your email address", "verify", username=username,
           link=link(f"/account/verify/{token}"), ttl_hours=_hours("EMAIL_TOKEN_TTL_SECONDS"))


def render_password_reset(username, email, token):
    """The reset mail's text and HTML (rendered, not queued)."""
    return _render("password_reset", username=username, link=link(f"/password/reset/{token}"),
                   ttl_hours=_hours("PASSWORD_RESET_TTL_SECONDS"))


def queue_password_reset(username, email, token):
    outbox.queue(email, "Reset your password", *render_password_reset(username, email, token))


def queue_password_changed(username, email):
    _queue(email, "Your password was changed", "password_changed", username=username,
           link=link("/password/forgot"))


def _hours(setting):
    return max(1, round(current_app.config[setting] / 3600))


# Each order mail is given the order (an ``orders.OrderView``) as the step that caused it left
# it, inside that step's transaction: queuing one reads nothing but, where the step did not
# read it already, the customer's verified address.

# A user's address as order mails may use it: only once verified, else NULL.
VERIFIED_ADDRESS = case((users.c.email_verified.is_(True), users.c.email)).label("verified_address")


def _verified_address(user_id):
    """The customer's verified address, or None."""
    return db.session.execute(select(VERIFIED_ADDRESS).where(users.c.id == user_id)).scalar_one_or_none()


def _queue_order_mail(order, to, subject, name, **context):
    if to is not None:
        _queue(to, subject.format(id=order.id), name, order=order, receipt=link(f"/orders/{order.id}"),
               **context)


def queue_order_placed(order, to):
    """The customer's receipt (lines with unit and price, total, collection note, link) to
    their verified address ``to`` (which placing the order read); nothing when it is None."""
    _queue_order_mail(order, to, "Your order {id} is placed", "order_placed")


def queue_order_ready(order):
    """Tell the customer their order is packed and waiting."""
    _queue_order_mail(order, _verified_address(order.user_id), "Your order {id} is ready for collection",
                      "order_ready")


def queue_order_cancelled(order, by_admin):
    """Tell the customer their order was cancelled, and by whom ("you" or "the shop")."""
    _queue_order_mail(order, _verified_address(order.user_id), "Your order {id} is cancelled",
                      "order_cancelled", by="the shop" if by_admin else "you")


# --- low stock --------------------------------------------------------------------------------
#
# Decided from the sale's own UPDATE ... RETURNING, never from a second read: the sale took
# ``units`` and left ``quantity``, so it crossed the threshold T iff quantity <= T < quantity +
# units. Racing buyers each see their own before and after, so exactly one crosses.
#
# The mail is one INSERT ... SELECT built in SQL, so that on PostgreSQL it can ride inside the
# purchase's single self-committing statement (inventory._sale_with_ledger_row) as one more CTE:
# then the mail commits with the sale or not at all. Elsewhere (SQLite's purchase, order lines)
# the same statement runs after the UPDATE, in its transaction, from bound values.

def crossed(quantity, units, threshold):
    """Whether a sale of ``units`` leaving ``quantity`` took the stock to or below ``threshold``
    from above it."""
    return quantity <= threshold < quantity + units


def _sql_text(value):
    """A constant string written into the statement itself: no bound parameter to process on
    every purchase."""
    return literal_column("'" + value.replace("'", "''") + "'", String)


def _html_escaped(column):
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#39;")):
        column = func.replace(column, _sql_text(char), _sql_text(entity))
    return column


class random_hex(FunctionElement):
    """Random hex digits made by the database, for a Message-ID per row."""

    type = String()
    inherit_cache = True
    name = "random_hex"


@compiles(random_hex, "postgresql")
def _random_hex_postgresql(element, compiler, **kw):
    return "md5(random()::text || clock_timestamp()::text)"


@compiles(random_hex, "sqlite")
def _random_hex_sqlite(element, compiler, **kw):
    return "lower(hex(randomblob(16)))"


def low_stock_insert(sold, settings=None):
    """The INSERT of one low-stock mail per admin with a verified address, for the sale in
    ``sold`` (a selectable with ``id``, ``name`` and ``quantity``: the UPDATE's RETURNING), that
    inserts nothing unless the sale crossed. Bound values: ``units``, ``now``, and those of
    ``low_stock_params`` unless ``settings`` (the same, as a dict) writes them into the
    statement, as the purchase's does: it then costs a purchase that does not cross no
    parameter at all."""
    units = bindparam("units", type_=Integer)
    if settings is None:
        threshold = bindparam("low_stock", type_=Integer)
        url, domain = bindparam("mail_admin_url", type_=String), bindparam("mail_domain", type_=String)
    else:
        threshold = literal_column(str(int(settings["low_stock"])), Integer)
        url, domain = _sql_text(settings["mail_admin_url"]), _sql_text(settings["mail_domain"])
    left = cast(sold.c.quantity, String(12))
    mail = select(
        users.c.email, _sql_text("Low stock: ") + sold.c.name + _sql_text(" (") + left + _sql_text(" left)"),
        sold.c.name + _sql_text(" is down to ") + left + _sql_text(" (the low-stock line is ")
        + cast(threshold, String(12)) + _sql_text("). Restock it at ") + url + _sql_text(" .\n"),
        _sql_text("<p><strong>") + _html_escaped(sold.c.name) + _sql_text("</strong> is down to ") + left
        + _sql_text(".</p>\n<p><a href=\"") + url + _sql_text("\">Restock it</a></p>\n"),
        _sql_text("<low-stock.") + random_hex() + _sql_text(".") + cast(users.c.id, String(12))
        + _sql_text("@") + domain + _sql_text(">"),
        _sql_text(OutboxMail.PENDING), literal_column("0", Integer), bindparam("now", type_=Timestamp),
        bindparam("now", type_=Timestamp),
    ).select_from(sold.join(users, true())).where(and_(
        users.c.is_admin.is_(True), users.c.email_verified.is_(True), users.c.email.is_not(None),
        sold.c.quantity <= threshold, threshold < sold.c.quantity + units))
    return insert(outbox.mails).from_select(
        ["to", "subject", "text", "html", "message_id", "status", "attempts", "next_attempt_at",
         "created_at"], mail)


def low_stock_params():
    """The bound values of ``low_stock_insert`` besides ``units`` and ``now``."""
    return {"low_stock": int(current_app.config["LOW_STOCK_THRESHOLD"]), "mail_admin_url": link("/admin"),
            "mail_domain": outbox.message_domain()}


_BOUND_SALE = select(bindparam("sold_id", type_=Integer).label("id"),
                     bindparam("sold_name", type_=String).label("name"),
                     bindparam("sold_quantity", type_=Integer).label("quantity")).subquery("sold")
_LOW_STOCK_FROM_VALUES = low_stock_insert(_BOUND_SALE)


def queue_low_stock(sweet_id, name, quantity, units, now):
    """After a sale (its UPDATE returned ``quantity`` having taken ``units``), in its transaction:
    the low-stock mails, if it crossed ``LOW_STOCK_THRESHOLD``."""
    if not crossed(quantity, units, int(current_app.config["LOW_STOCK_THRESHOLD"])):
        return
    db.session.execute(_LOW_STOCK_FROM_VALUES, dict(low_stock_params(), sold_id=sweet_id, sold_name=name,
                                                    sold_quantity=quantity, units=units, now=now))
