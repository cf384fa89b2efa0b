"""Single-use links sent by mail (verify an address, reset a password).

A link's token is random and only its SHA-256 is stored (a database leak yields no usable
link). Using one is a conditional UPDATE (``used_at IS NULL AND expires_at > now``) whose row
count decides, so a link works once even when two requests race. A newer link of one kind
deletes the older ones. A reset link also carries a fingerprint of the password hash it may
replace: any change of password, by whatever route, leaves the fingerprint stale and the link
dead. Links are built from ``PUBLIC_URL`` (mail.py), never from the request's Host.
"""
import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, insert, select, update

from . import mail
from .errors import InvalidLinkError
from .extensions import db
from .models import EmailToken, User, utcnow

links = EmailToken.__table__
users = User.__table__


def _digest(token):
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def fingerprint(password_hash):
    """What a reset link remembers of the password it may replace (not the hash itself)."""
    return hashlib.sha256(password_hash.encode()).hexdigest()


def email_taken(email, other_than=None):
    """Whether another account has this address, in any case (as the unique index compares)."""
    query = select(users.c.id).where(func.lower(users.c.email) == email.lower())
    if other_than is not None:
        query = query.where(users.c.id != other_than)
    return db.session.execute(query.limit(1)).first() is not None


def issue(user_id, purpose, email, ttl_setting, password_hash=None):
    """A new link's token, uncommitted; the user's older links of this kind are deleted."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.execute(delete(links).where(links.c.user_id == user_id, links.c.purpose == purpose))
    db.session.execute(insert(links).values(
        purpose=purpose, user_id=user_id, token_hash=_digest(token), email=email,
        password_fingerprint=fingerprint(password_hash) if password_hash else None, created_at=now,
        expires_at=now + timedelta(seconds=current_app.config[ttl_setting])))
    return token


def queue_verification(user_id, username, email):
    """Issue a verification link for ``email`` and queue its mail, in the caller's transaction."""
    token = issue(user_id, EmailToken.VERIFY, email, "EMAIL_TOKEN_TTL_SECONDS")
    mail.queue_verification(username, email, token)


def use(token, purpose):
    """Mark a live link of this kind used, in the caller's ``transaction()``; returns its row.

    :raise InvalidLinkError: unknown, used or expired (the caller's block rolls back).
    """
    row = None
    if isinstance(token, str) and 0 < len(token) <= 200:
        row = db.session.execute(
            update(links).where(links.c.token_hash == _digest(token), links.c.purpose == purpose,
                                links.c.used_at.is_(None), links.c.expires_at > utcnow())
            .values(used_at=utcnow())
            .returning(links.c.user_id, links.c.email, links.c.password_fingerprint)).one_or_none()
    if row is None:
        raise InvalidLinkError()
    return row
