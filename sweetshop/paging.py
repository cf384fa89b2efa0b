"""Links within a paged or searched list, built only from the query parameters a page names.

Passing the whole query string to ``url_for`` lets a visitor choose its keyword arguments:
``?endpoint=x`` or ``?_method=DELETE`` made it raise (a 500), and ``?_external=1`` wrote the
request's (forgeable) ``Host`` into the links. So links are built by hand from a path, and only
the listed parameters are carried over.
"""
from urllib.parse import urlencode

from werkzeug.datastructures import MultiDict


def with_query(path, args, allowed, **changes):
    """``path`` with those of the query arguments ``args`` named in ``allowed``, then ``changes``."""
    query = MultiDict([(key, value) for key, value in args.items(multi=True) if key in allowed])
    for key, value in changes.items():
        query[key] = value
    encoded = urlencode(list(query.items(multi=True)))
    return f"{path}?{encoded}" if encoded else path
