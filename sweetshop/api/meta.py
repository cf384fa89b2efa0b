"""API health check and the OpenAPI document."""
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .. import metrics
from ..extensions import db
from .blueprint import bp
from .openapi import openapi_document


@bp.get("/health")
def health():
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()  # the failed session is usable again for the rest of the request
        metrics.record_database_unavailable()
        return {"detail": "Database unavailable"}, 503, {"Retry-After": "5"}
    return {"status": "ok"}


@bp.get("/openapi.json")
def openapi():
    return openapi_document()
