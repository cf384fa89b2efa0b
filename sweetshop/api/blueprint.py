"""The one blueprint every API module adds its routes to."""
from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")
