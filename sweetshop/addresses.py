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
from .transactions import transaction

link_rows = EmailToken.__table__
users = User.__table__
log = logging.getLogger(__name__)


def change_email(user_id, password, email):
    """Give the user a new address (unverified, with a verification mail), or none (``None``).

    :raise WrongPasswordError: ``password`` is not the user's current password.
    :raise EmailTakenError: another account has the address (also when two requests race).
    """
    user = db.session.get(User, user_id)
    # Checked before the transaction: a hash takes a while, and on SQLite the block holds the lock.
    if not check_password_hash(user.password_hash, password):
        raise WrongPasswordError()
    username = user.username
    try:
        with transaction():
            if email is not None and links.email_taken(email, other_than=user_id):
                raise EmailTakenError()
            db.session.execute(update(users).where(users.c.id == user_id).values(
                email=email, email_verified=False, email_verified_at=None))
            db.session.execute(delete(link_rows).where(link_rows.c.user_id == user_id))
            if email is not None:
                links.queue_verification(user_id, username, email)
    except IntegrityError:  # a racing request took the address; the unique index decided
        raise EmailTakenError() from None
    return db.session.get(User, user_id, populate_existing=True)


def verify_email(token):
    """Mark the address a verification link was sent to as verified; returns the user.

    :raise InvalidLinkError: unknown, used, expired, or the address is no longer the user's.
    """
    with transaction():
        link = links.use(token, EmailToken.VERIFY)
        verified = db.session.execute(
            update(users).where(users.c.id == link.user_id, func.lower(users.c.email) == link.email.lower())
            .values(email_verified=True, email_verified_at=utcnow())).rowcount
        if not verified:
            raise InvalidLinkError()  # rolled back: the link stays unused
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
        return
    with transaction():
        token = links.issue(user.id, EmailToken.RESET, user.email, "PASSWORD_RESET_TTL_SECONDS",
                            user.password_hash)
        mail.queue_password_reset(user.username, user.email, token)
    log.info("password reset link sent", extra={"user_id": user.id})


def reset_password(token, new_password):
    """Set a new password (already checked by the policy) through a reset link: every session
    and API token of the user ends, the address the link went to counts as verified, and a
    "password changed" mail is queued. Returns the user.

    :raise InvalidLinkError: unknown, used, expired, replaced by a newer link, the password
        changed since it was sent, or the address is no longer the user's.
    """
    password_hash = accounts.hash_password(new_password)  # before the transaction: it takes a while
    with transaction():
        link = links.use(token, EmailToken.RESET)
        user = db.session.get(User, link.user_id)
        if user is None or links.fingerprint(user.password_hash) != link.password_fingerprint:
            raise InvalidLinkError()
        # Conditional on the password seen: a change racing this one wins or loses whole.
        changed = db.session.execute(
            update(users).where(users.c.id == user.id, users.c.password_hash == user.password_hash,
                                func.lower(users.c.email) == link.email.lower())
            .values(password_hash=password_hash, session_version=users.c.session_version + 1,
                    email_verified=True, email_verified_at=func.coalesce(users.c.email_verified_at, utcnow()))
        ).rowcount
        if not changed:
            raise InvalidLinkError()
        db.session.execute(delete(ApiToken.__table__).where(ApiToken.user_id == user.id))
        db.session.execute(delete(link_rows).where(link_rows.c.user_id == user.id))
        mail.queue_password_changed(user.username, link.email)
    log.info("password reset", extra={"user_id": link.user_id})
    return db.session.get(User, link.user_id, populate_existing=True)
