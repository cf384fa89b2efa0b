"""Request body size: over ``MAX_CONTENT_LENGTH`` is a 413, whether or not the client said how long.

Flask refuses a body whose ``Content-Length`` is over the limit before reading it. A chunked
body (no ``Content-Length``) is only cut off at the limit by Werkzeug, silently: the view
would see the first ``MAX_CONTENT_LENGTH`` bytes as if they were the whole body. Here such a
body is read up to the limit and refused if it reaches it.

The server decodes chunked framing while the body is read, so a malformed chunk (a size that
is not hex, negative or absurd, a missing CRLF, a body cut short) surfaces as the server's own
exception from that read; it is turned into a 400 here, before any view runs.
"""
from flask import current_app, request
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge

# Endpoints that take a CSV file, whose bodies may reach IMPORT_MAX_BYTES: the API's raw
# body, and the pages' upload and confirm forms (the latter carries the file in base64,
# hence the margin).
FILE_ENDPOINTS = {"api.import_sweets": 1, "admin.import_upload": 1.5, "admin.import_confirm": 1.5}


def allow_files():
    factor = FILE_ENDPOINTS.get(request.endpoint)
    if factor:
        limit = int(current_app.config["IMPORT_MAX_BYTES"] * factor) + (64 * 1024 if factor > 1 else 0)
        request.max_content_length = limit
        request.max_form_memory_size = limit


def refuse_oversized_stream():
    allow_files()
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
