"""The outbox: every mail is a row written in the transaction of what caused it, and senders
hand the rows to an SMTP server.

A row leaves ``pending`` only through one conditional UPDATE, the claim, whose row count
decides which sender has it: ``pending`` and due, or ``sending`` with an expired lease (its
sender died), becomes ``sending`` with a new lease and a new claim id. Only the holder of the
current claim can then mark it ``sent``, put it back to ``pending`` after a temporary failure,
or mark it ``failed``; each of those is conditional on the claim too. So any number of senders
on any number of hosts never send one mail twice while they live, and a mail whose sender died
mid-send goes out again, with the Message-ID fixed when the row was written.
"""
import logging
import secrets
import smtplib
import ssl
import time
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import lru_cache
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import and_, insert, or_, select, update

from .errors import MailNotFailedError, MailNotFoundError
from .extensions import db
from .models import OutboxMail, utcnow
from .transactions import transaction

mails = OutboxMail.__table__
log = logging.getLogger(__name__)
SUBJECT_MAX = 200
LIST_COLUMNS = (mails.c.id, mails.c.to, mails.c.subject, mails.c.status, mails.c.attempts,
                mails.c.last_error, mails.c.created_at, mails.c.sent_at)


def check_settings(config):
    """:raise RuntimeError: the mail settings are unusable (checked at start-up, not at the
    first mail)."""
    if config.get("MAIL_SECURITY") not in ("starttls", "ssl", "none"):
        raise RuntimeError(f"MAIL_SECURITY must be starttls, ssl or none, not "
                           f"{config.get('MAIL_SECURITY')!r}")
    if not config.get("MAIL_SERVER"):
        return
    if not config.get("MAIL_FROM"):
        raise RuntimeError("MAIL_FROM must be set when MAIL_SERVER is (the sender's address, "
                           "e.g. SWEETSHOP_MAIL_FROM='Sweetshop <shop@example.com>')")
    if config.get("CONFIG") == "production" and not config.get("PUBLIC_URL"):
        raise RuntimeError("PUBLIC_URL must be set when MAIL_SERVER is (the shop's address as customers "
                           "reach it, e.g. SWEETSHOP_PUBLIC_URL=https://shop.example): every link in a "
                           "mail starts with it")
    if config.get("PUBLIC_URL") and urlsplit(config["PUBLIC_URL"]).scheme not in ("http", "https"):
        raise RuntimeError(f"PUBLIC_URL must start with https:// or http://, not {config['PUBLIC_URL']!r}")


def public_url():
    """The shop's address as customers reach it: the start of every link in a mail. Never the
    request's Host, which a client chooses. Without ``PUBLIC_URL`` (development), the address
    ``make run`` serves."""
    return (current_app.config.get("PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/")


def message_domain():
    """The right-hand side of the shop's Message-IDs: its public host name."""
    return _host_of(public_url())


@lru_cache(maxsize=8)
def _host_of(url):
    return urlsplit(url).hostname or "localhost"


def message_id():
    return make_msgid(idstring=secrets.token_hex(8), domain=message_domain())


def one_line(text, limit=SUBJECT_MAX):
    """``text`` with every run of whitespace (line breaks included) made one space: a header
    never carries a line break from user text."""
    return " ".join(str(text).split())[:limit]


# Built once: the row's values travel as parameters (building a statement per mail with
# ``.values()`` cost a quarter of queuing one).
_INSERT = insert(mails)


def queue(to, subject, text, html):
    """Write a mail into the outbox, in the caller's transaction (the caller commits): it is
    sent if and only if that transaction commits."""
    now = utcnow()
    db.session.execute(_INSERT, {
        "to": to, "subject": one_line(subject), "text": text, "html": html, "message_id": message_id(),
        "status": OutboxMail.PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now})


def list_mails(status=None, skip=0, limit=50, with_text=False):
    """Mails, newest first, optionally in one state."""
    columns = LIST_COLUMNS + ((mails.c.text,) if with_text else ())
    query = select(*columns).order_by(mails.c.id.desc()).offset(skip).limit(limit)
    if status is not None:
        query = query.where(mails.c.status == status)
    return db.session.execute(query).all()


def retry(mail_id):
    """Put a failed mail back to ``pending``, due now, with its attempts counted afresh.

    :raise MailNotFoundError:
    :raise MailNotFailedError: the mail is not ``failed`` (also when a racing retry won).
    """
    with transaction():
        row = db.session.execute(
            update(mails).where(mails.c.id == mail_id, mails.c.status == OutboxMail.FAILED)
            .values(status=OutboxMail.PENDING, attempts=0, next_attempt_at=utcnow(), claimed_by=None,
                    lease_until=None).returning(*LIST_COLUMNS)).one_or_none()
        if row is None:  # only the loser reads again, to explain
            status = db.session.execute(
                select(mails.c.status).where(mails.c.id == mail_id)).scalar_one_or_none()
            raise MailNotFoundError() if status is None else MailNotFailedError(status)
    return row


# --- the sender ---------------------------------------------------------------------------

def _due(now):
    return or_(and_(mails.c.status == OutboxMail.PENDING, mails.c.next_attempt_at <= now),
               and_(mails.c.status == OutboxMail.SENDING, mails.c.lease_until < now))


def claim_next():
    """Claim the oldest due mail for this sender; returns its row (with ``claimed_by``, the
    claim's id) or None when nothing is due. Each claim commits at once."""
    now = utcnow()
    candidates = db.session.execute(
        select(mails.c.id).where(_due(now)).order_by(mails.c.id).limit(10)).scalars().all()
    for mail_id in candidates:
        # The row count decides: of several senders trying the same row, one wins; the others
        # find it no longer due and try the next.
        with transaction():
            claimed = db.session.execute(
                update(mails).where(mails.c.id == mail_id, _due(now))
                .values(status=OutboxMail.SENDING, claimed_by=secrets.token_hex(16),
                        lease_until=now + timedelta(seconds=current_app.config["MAIL_LEASE_SECONDS"]),
                        attempts=mails.c.attempts + 1)
                .returning(*mails.c)).one_or_none()
        if claimed is not None:
            return claimed
    # Nothing claimed: end the read of the candidates, since the sender sleeps next and on
    # PostgreSQL would sit idle in that transaction meanwhile.
    db.session.rollback()
    return None


def _settle(mail, **values):
    """Write the outcome of an attempt, if this sender still holds the claim; returns whether it did."""
    with transaction():
        done = db.session.execute(
            update(mails).where(mails.c.id == mail.id, mails.c.status == OutboxMail.SENDING,
                                mails.c.claimed_by == mail.claimed_by)
            .values(lease_until=None, **values)).rowcount
    return bool(done)


def backoff_seconds(attempts, cap):
    """The wait after the ``attempts``-th failed attempt: 5 s, doubling, at most ``cap``."""
    return min(cap, 5 * 2 ** (attempts - 1))


def _failed_for_now(mail, error):
    config = current_app.config
    if mail.attempts >= config["MAIL_MAX_ATTEMPTS"]:
        return _settle(mail, status=OutboxMail.FAILED, last_error=error[:500])
    wait = backoff_seconds(mail.attempts, config["MAIL_RETRY_MAX_SECONDS"])
    return _settle(mail, status=OutboxMail.PENDING, last_error=error[:500],
                   next_attempt_at=utcnow() + timedelta(seconds=wait))


def message(mail):
    """The outbox row as an email message (plain text, with the HTML as its alternative)."""
    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_FROM"]
    msg["To"] = mail.to
    msg["Subject"] = one_line(mail.subject)
    msg["Message-ID"] = mail.message_id
    created = mail.created_at
    msg["Date"] = format_datetime(created if created.tzinfo else created.replace(tzinfo=utcnow().tzinfo))
    msg.set_content(mail.text)
    msg.add_alternative(mail.html, subtype="html")
    return msg


def _connect(config):
    host, port, timeout = config["MAIL_SERVER"], int(config["MAIL_PORT"]), config["MAIL_TIMEOUT_SECONDS"]
    security = config["MAIL_SECURITY"]
    if security == "ssl":
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=tls_context())
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
        if security == "starttls":
            smtp.starttls(context=tls_context())
    if config.get("MAIL_USERNAME"):
        smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
    return smtp


def tls_context():
    """The TLS context for the mail server: the system's trusted authorities, or the file
    ``MAIL_CA_FILE`` names (a private authority, or a test's self-signed certificate)."""
    return ssl.create_default_context(cafile=current_app.config.get("MAIL_CA_FILE"))


def deliver(mail):
    """One attempt at one claimed mail; returns its new state.

    4xx answers and connection trouble are temporary (retried with backoff up to
    ``MAIL_MAX_ATTEMPTS``); a 5xx answer to the mail itself is permanent (``failed`` at once).
    A refused login is the server's set-up, not the mail's fault: temporary.
    """
    try:
        smtp = _connect(current_app.config)
        try:
            smtp.send_message(message(mail))
        finally:
            _close(smtp)
    except smtplib.SMTPRecipientsRefused as error:
        code, text = next(iter(error.recipients.values()))
        return _after_refusal(mail, code, text)
    except smtplib.SMTPResponseException as error:
        if isinstance(error, smtplib.SMTPAuthenticationError):
            return _temporary(mail, f"login refused: {error.smtp_code} {error.smtp_error!r}")
        return _after_refusal(mail, error.smtp_code, error.smtp_error)
    except (OSError, smtplib.SMTPException) as error:  # refused, timed out, dropped, TLS failed
        return _temporary(mail, f"{type(error).__name__}: {error}")
    _settle(mail, status=OutboxMail.SENT, sent_at=utcnow(), last_error=None)
    return OutboxMail.SENT


def _close(smtp):
    # The mail was taken (or refused) already: a failing goodbye must not make it a failure.
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def _after_refusal(mail, code, text):
    text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    if 500 <= code < 600:
        _settle(mail, status=OutboxMail.FAILED, last_error=f"{code} {text}"[:500])
        return OutboxMail.FAILED
    return _temporary(mail, f"{code} {text}")


def _temporary(mail, error):
    log.warning("mail not sent, will retry", extra={"mail_id": mail.id, "error": error})
    _failed_for_now(mail, error)
    return OutboxMail.PENDING


def send_due():
    """Send every mail due now, one claim at a time; returns how many attempts were made."""
    attempts = 0
    while (mail := claim_next()) is not None:
        outcome = deliver(mail)
        attempts += 1
        log.info("mail attempt", extra={"mail_id": mail.id, "outcome": outcome, "attempt": mail.attempts})
    return attempts


def run(once=False, stop=lambda: False):
    """The sender: send what is due, then look again every ``MAIL_POLL_SECONDS`` until ``stop()``
    (or, with ``once``, return after the first pass)."""
    poll = float(current_app.config["MAIL_POLL_SECONDS"])
    while True:
        try:
            send_due()
        except Exception:  # the database went away: keep the sender alive, look again later
            db.session.rollback()  # the session must be usable again for the next pass
            log.exception("sender pass failed")
        if once or stop():
            return
        time.sleep(poll)
