"""Error responses: JSON ``{"detail": ...}`` under /api, pages elsewhere."""
import json
from html import escape

from flask import current_app, render_template, request
from flask.globals import request_ctx
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from werkzeug.exceptions import (HTTPException, InternalServerError, ServiceUnavailable,
                                 default_exceptions)

from . import metrics
from .errors import SweetshopError, ValidationError
from .extensions import db


def is_api_path(path):
    """Whether ``path`` is the JSON API's: everything under /api."""
    return path == "/api" or path.startswith("/api/")


def wants_json():
    """Decided by the URL, not the Accept header: everything under /api speaks JSON."""
    return is_api_path(request.path)


def _json_response(http_error, body):
    response = http_error.get_response()  # keeps headers such as Allow and Retry-After
    response.set_data(json.dumps(body))
    response.content_type = "application/json"
    if response.status_code == 401:
        response.headers.setdefault("WWW-Authenticate", "Bearer")
    return response


def _detail(http_error):
    # Werkzeug's stock descriptions are paragraphs for browsers; an API client wants the name.
    if http_error.description == type(http_error).description:
        return http_error.name
    return http_error.description


PLAIN_PAGE = ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{code} {title}</title>"
              "</head><body><h1>{code} {title}</h1><p>{message}</p></body></html>\n")


def _page_response(http_error):
    """A small HTML error page; it reads nothing from the database, so it works when that is down."""
    response = http_error.get_response()  # keeps headers such as Allow and Retry-After
    fields = {"code": http_error.code, "title": http_error.name, "message": http_error.description}
    if request_ctx.url_adapter is None:
        # No URL can be built for this request (a Host header that is no host name): the page's
        # links would fail, so it gets a page without any.
        response.set_data(PLAIN_PAGE.format(**{key: escape(str(value)) for key, value in fields.items()}))
    else:
        response.set_data(render_template("error.html", **fields))
    response.content_type = "text/html; charset=utf-8"
    return response


def handle_http_error(error):
    if not wants_json():
        return _page_response(error)
    return _json_response(error, {"detail": _detail(error)})


def handle_domain_error(error):
    body = {"detail": error.detail}
    if isinstance(error, ValidationError) and error.errors:
        body["errors"] = error.errors
    body.update(error.extra())  # e.g. an order's "shortages" or a count's "quantity"
    if not wants_json():
        # Page views catch domain errors themselves; this is only the fallback (e.g. a 404 sweet).
        return _page_response(default_exceptions[error.status](error.detail))
    return body, error.status


def handle_database_down(error):
    """An unreachable database is a 503 the client may retry, not a 500.

    Refused connections and ones dropped mid-transaction are OperationalErrors, but a
    connection found already closed is an InterfaceError that SQLAlchemy marks invalidated.
    """
    if not (isinstance(error, OperationalError) or error.connection_invalidated):
        return handle_unexpected(error)
    try:
        db.session.rollback()
    except SQLAlchemyError:
        pass  # the connection is gone already; the pool replaces it on the next checkout
    current_app.logger.warning("database unavailable: %s", error.orig)
    metrics.record_database_unavailable()
    unavailable = ServiceUnavailable("Database unavailable, please retry shortly")
    unavailable.retry_after = 5
    return handle_http_error(unavailable)


def handle_unexpected(error):
    db.session.rollback()
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return handle_http_error(InternalServerError())


def init_app(app):
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(SweetshopError, handle_domain_error)
    app.register_error_handler(DBAPIError, handle_database_down)
    app.register_error_handler(Exception, handle_unexpected)
