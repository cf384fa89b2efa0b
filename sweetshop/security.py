"""Browser-facing safety: security headers on every response, and redirects that stay on this site."""
from urllib.parse import urlsplit

from flask import current_app, g


def _default_headers(config):
    """The headers every response gets unless its view set its own: ``(lower-case name, name, value)``."""
    headers = [
        ("Content-Security-Policy", config["CONTENT_SECURITY_POLICY"]),
        ("X-Content-Type-Options", "nosniff"),
        # Old browsers ignore CSP frame-ancestors; X-Frame-Options covers them against clickjacking.
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "same-origin"),
    ]
    if config.get("HSTS_MAX_AGE"):
        # Production only (it is served over HTTPS there): browsers then refuse plain HTTP.
        headers.append(("Strict-Transport-Security", f"max-age={int(config['HSTS_MAX_AGE'])}"))
    return tuple((name.lower(), name, value) for name, value in headers)


def add_security_headers(response):
    """Set the headers on every response, pages, static files and /api alike (a view may set its own).

    One pass over the response's headers instead of one ``setdefault`` scan per header: this
    runs on every request, the purchase included.
    """
    headers = response.headers
    present = {name.lower() for name in headers.keys()}
    headers.extend([(name, value) for lower, name, value in current_app.extensions["security_headers"]
                    if lower not in present])
    if is_personal(response):
        # Neither the browser's history cache nor a shared proxy may keep or replay it.
        headers["Cache-Control"] = "no-store"
    return response


def is_personal(response):
    """Whether the response was made for a signed-in user or sets a cookie.

    Read without touching the database or the session: ``g.user`` is the API's token owner,
    ``g._login_user`` the page user Flask-Login loaded (only if the request looked at it).
    """
    if g.get("user") is not None or "Set-Cookie" in response.headers:
        return True
    page_user = g.get("_login_user")
    return page_user is not None and page_user.is_authenticated


def is_local_path(target):
    """Whether ``target`` is a path on this site that is safe to redirect to.

    Only ``/something`` passes: ``//host``, ``https://host``, ``javascript:`` and
    backslashes (which browsers read as slashes) are refused, and so are control
    characters and spaces, because browsers drop tabs and newlines from URLs,
    turning ``/\\t/evil.example`` into ``//evil.example``.
    """
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(char) <= 0x20 or ord(char) == 0x7F for char in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def safe_next(target, fallback):
    """``target`` if it is a local path (see ``is_local_path``), else ``fallback``."""
    return target if is_local_path(target) else fallback


def init_app(app):
    app.extensions["security_headers"] = _default_headers(app.config)
    app.after_request(add_security_headers)
