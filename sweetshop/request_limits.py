"""Request body size: over ``MAX_CONTENT_LENGTH`` is a 413, whether or not the client said how long.

Flask refuses a body whose ``Content-Length`` is over the limit before reading it. A chunked
body (no ``Content-Length``) is only cut off at the limit by Werkzeug, silently: the view
would see the first ``MAX_CONTENT_LENGTH`` bytes as if they were the whole body. Here such a
body is read up to the limit and refused if it reaches it.

The server decodes chunked framing while the body is read, so a malformed chunk (a size that
is not hex, negative or absurd, a missing CRLF, a body cut short) surfaces as the server's own
exception from that read; it is turned into a 400 here, before any view runs.

A view marked with ``@allow_body(SETTING, factor, extra)`` (the photo uploads, the CSV imports)
takes bodies up to that setting (times ``factor``, plus ``extra`` bytes) instead; every other
route keeps ``MAX_CONTENT_LENGTH``.
"""
from flask import current_app, request
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge


def allow_body(setting, factor=1, extra=0):
    """Let this view's requests carry bodies (and form fields) up to ``config[setting] * factor +
    extra`` bytes."""
    def mark(view):
        view.body_limit = (setting, factor, extra)
        return view
    return mark


def _apply_route_limit():
    view = current_app.view_functions.get(request.endpoint)
    marked = getattr(view, "body_limit", None)
    if marked is not None:
        setting, factor, extra = marked
        limit = int(current_app.config[setting] * factor) + extra
        # Read by Werkzeug when the body is first read (the CSRF check runs after this hook).
        request.max_content_length = request.max_form_memory_size = limit


def refuse_oversized_stream():
    _apply_route_limit()
    limit = request.max_content_length
    if not limit or request.content_length is not None:
        return  # no limit, or a declared length that Flask already checked
    if not request.environ.get("wsgi.input_terminated"):
        return  # the server gives no streamed body at all, so there is nothing to read
    try:
        # Cached, so the view and the form parser read the same bytes afterwards.
        body = request.get_data(cache=True)
    except HTTPException:
        raise
    except Exception as error:  # the server's parse error (gunicorn's InvalidChunkSize, NoMoreData, ...)
        current_app.logger.info("malformed request body: %s", type(error).__name__)
        raise BadRequest("Malformed request body") from None
    if len(body) >= limit:
        raise RequestEntityTooLarge()


def init_app(app):
    app.before_request(refuse_oversized_stream)
