"""Entry point for WSGI servers: ``gunicorn wsgi:app``."""
from sweetshop import create_app

app = create_app()
