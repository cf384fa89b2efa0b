"""Entry point for any WSGI server run from the repository (e.g. ``granian --interface wsgi wsgi:app``).

Production runs ``python -m sweetshop.serve`` (sweetshop/serve.py), which needs no file outside the package.
"""
from sweetshop import create_app

app = create_app()
