"""Links to other pages of a paged list, built only from the query parameters a page names.

Passing the whole query string to ``url_for`` lets a visitor choose its keyword arguments:
``?endpoint=x`` or ``?_method=DELETE`` made it raise (a 500), and ``?_external=1`` wrote the
request's (forgeable) ``Host`` into the links. Only the listed parameters are carried over,
and ``url_for`` always gets a relative URL.
"""
from flask import request, url_for


def page_links(*allowed):
    """A function ``page -> URL`` of this request's endpoint, keeping only the ``allowed``
    query parameters (their first value each) and setting ``page``."""
    kept = {name: request.args[name] for name in allowed if name != "page" and name in request.args}
    endpoint, view_args = request.endpoint, dict(request.view_args or {})

    def page_url(page):
        return url_for(endpoint, **view_args, **kept, page=page)
    return page_url
