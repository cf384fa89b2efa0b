"""API outbox (admins only): the mails the shop has written, and sending a failed one again."""
from flask import request

from .. import outbox
from ..errors import ValidationError
from ..models import OutboxMail
from .blueprint import bp
from .http import auth_required, iso, paging


def mail_json(mail):
    return {"id": mail.id, "to": mail.to, "subject": mail.subject, "status": mail.status,
            "attempts": mail.attempts, "last_error": mail.last_error, "created_at": iso(mail.created_at),
            "sent_at": iso(mail.sent_at) if mail.sent_at else None}


def query_status():
    """:raise ValidationError: a status that is not one of the outbox's."""
    status = request.args.get("status")
    if status is not None and status not in OutboxMail.STATUSES:
        raise ValidationError({"status": [f"Must be one of {', '.join(OutboxMail.STATUSES)}."]})
    return status


@bp.get("/outbox")
@auth_required(admin=True)
def list_outbox():
    skip, limit = paging()
    return [mail_json(mail) for mail in outbox.list_mails(query_status(), skip=skip, limit=limit)]


@bp.post("/outbox/<id:mail_id>/retry")
@auth_required(admin=True)
def retry_mail(mail_id):
    return mail_json(outbox.retry(mail_id))
