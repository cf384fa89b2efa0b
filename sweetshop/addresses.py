"""Email addresses and what the links mailed to them do: change and verify an address, reset a
forgotten password (the links themselves: links.py)."""
import logging
import secrets

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash

from . import accounts, links, mail
from .errors import EmailTakenError, InvalidLinkError, WrongPasswordError
from .extensions import db
from .models import ApiToken, EmailToken, User, utcnow

link_rows = EmailToken.__table__
users = User.__table__
log = logging.getLogger(__name__)


def change_email(user_id, password, email):
    """Give the user a new address (unverified, with a verification mail), or none (``None``).

    :raise WrongPasswordError: ``password`` is not the user's current password.
    :raise EmailTakenError: another account has the address (also when two requests race).
    """
    user = db.session.get(User, user_id)
    if not check_password_hash(user.password_hash, password):
        db.session.rollback()
        raise WrongPasswordError()
    if email is not None and links.email_taken(email, other_than=user_id):
        db.session.rollback()
        raise EmailTakenError()
    username = user.username
    db.session.execute(update(users).where(users.c.id == user_id).values(
        email=email, email_verified=False, email_verified_at=None))
    db.session.execute(delete(link_rows).where(link_rows.c.user_id == user_id))
    if email is not None:
        links.queue_verification(user_id, username, email)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise EmailTakenError() from None
    return db.session.get(User, user_id, populate_existing=True)


def verify_email(token):
    """Mark the address a verification link was sent to as verified; returns the user.

    :raise InvalidLinkError: unknown, used, expired, or the address is no longer the user's.
    """
    link = links.use(token, EmailToken.VERIFY)
    verified = db.session.execute(
        update(users).where(users.c.id == link.user_id, func.lower(users.c.email) == link.email.lower())
        .values(email_verified=True, email_verified_at=utcnow())).rowcount
    if not verified:
        db.session.rollback()
        raise InvalidLinkError()
    db.session.commit()
    return db.session.get(User, link.user_id, populate_existing=True)


def _reset_candidate(username, email):
    if username is not None:
        return accounts.find_user(username)
    return db.session.scalar(select(User).where(func.lower(User.email) == email.lower()))


def request_password_reset(username=None, email=None):
    """Mail a reset link to the account named by ``username`` or ``email``, if it exists and has
    an address (verified or not: the link proves the address as it resets). Says nothing
    either way, and does the same work either way (a token made and a mail rendered), so the
    time taken does not tell whether the account exists."""
    user = _reset_candidate(username, email)
    token = secrets.token_urlsafe(32)
    if user is None or user.email is None:
        mail.render_password_reset("someone", "nobody@example.invalid", token)
        db.session.rollback()
        return
    token = links.issue(user.id, EmailToken.RESET, user.email, "PASSWORD_RESET_TTL_SECONDS",
                        user.password_hash)
    mail.queue_password_reset(user.username, user.email, token)
    db.session.commit()
    log.info("password reset link sent", extra={"user_id": user.id})


def reset_password(token, new_password):
    """Set a new password (already checked by the policy) through a reset link: every session
    and API token of the user ends, the address the link went to counts as verified, and a
    "password changed" mail is queued. Returns the user.

    :raise InvalidLinkError: unknown, used, expired, replaced by a newer link, the password
        changed since it was sent, or the address is no longer the user's.
    """
    password_hash = accounts.hash_password(new_password)  # before any write: it takes a while
    link = links.use(token, EmailToken.RESET)
    user = db.session.get(User, link.user_id)
    if user is None or links.fingerprint(user.password_hash) != link.password_fingerprint:
        db.session.rollback()
        raise InvalidLinkError()
    # Conditional on the password seen: a change racing this one wins or loses whole.
    changed = db.session.execute(
        update(users).where(users.c.id == user.id, users.c.password_hash == user.password_hash,
                            func.lower(users.c.email) == link.email.lower())
        .values(password_hash=password_hash, session_version=users.c.session_version + 1,
                email_verified=True, email_verified_at=func.coalesce(users.c.email_verified_at, utcnow()))
    ).rowcount
    if not changed:
        db.session.rollback()
        raise InvalidLinkError()
    db.session.execute(delete(ApiToken.__table__).where(ApiToken.user_id == user.id))
    db.session.execute(delete(link_rows).where(link_rows.c.user_id == user.id))
    mail.queue_password_changed(user.username, link.email)
    db.session.commit()
    log.info("password reset", extra={"user_id": user.id})
    return db.session.get(User, user.id, populate_existing=True)
