"""Accounts: registration, password checks, bearer tokens, and who is an admin."""
import hashlib
import logging
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from . import links
from .errors import (AdminRevokeError, EmailTakenError, UserNotFoundError, UsernameTakenError,
                     WrongPasswordError)
from .extensions import db
from .models import ApiToken, EmailToken, User, utcnow
from .rules import is_encodable, is_plain_text
from .transactions import transaction

log = logging.getLogger(__name__)
# A hash of a throwaway password per hashing method: checked against when the
# username is unknown, so that answer takes as long as a wrong password.
_dummy_hashes = {}


def _hash_method():
    return current_app.config["PASSWORD_HASH_METHOD"]


def _dummy_hash():
    method = _hash_method()
    if method not in _dummy_hashes:
        _dummy_hashes[method] = generate_password_hash(secrets.token_hex(16), method)
    return _dummy_hashes[method]


def hash_password(password):
    return generate_password_hash(password, _hash_method())


def _is_current_strength(password_hash):
    """Whether a stored hash used the configured method and parameters."""
    return password_hash.split("$", 1)[0] == _dummy_hash().split("$", 1)[0]


def find_user(username):
    """The user with this name in any case, or None."""
    return db.session.scalar(select(User).where(User.username_key == username.lower()))


def register(username, password, full_name=None, is_admin=False, email=None):
    """Create an account; registration through the API or pages never passes ``is_admin``.
    An ``email`` gets its verification mail, queued in the same transaction.

    :raise UsernameTakenError: the name is taken in any case (also when two requests race).
    :raise EmailTakenError: the address is another account's, in any case (also racing).
    """
    # Hashed first, taken or not: otherwise "taken" answers in a few milliseconds and a free
    # name in one hash's time, and the difference tells which names exist.
    password_hash = hash_password(password)
    try:
        with transaction():
            if find_user(username) is not None:
                raise UsernameTakenError()
            if email is not None and links.email_taken(email):
                raise EmailTakenError()
            user = User(username=username, username_key=username.lower(), full_name=full_name,
                        password_hash=password_hash, is_admin=is_admin, email=email)
            db.session.add(user)
            db.session.flush()
            if email is not None:
                links.queue_verification(user.id, username, email)
    except IntegrityError:
        # Another request registered the same name or address between our check and insert
        # (PostgreSQL); the unique constraint decided.
        raise (UsernameTakenError() if find_user(username) is not None else EmailTakenError()) from None
    return user


def authenticate(username, password):
    """The user if the password is right, else None; never says which part was wrong.

    A hash made with weaker (or other) parameters than configured is replaced.
    """
    if not is_encodable(password):
        # No stored password holds a lone surrogate (registration refuses one) and the
        # hasher cannot encode it; check a stand-in so the answer takes the usual time.
        password = ""
        username = None
    user = find_user(username) if isinstance(username, str) and is_plain_text(username) else None
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    if not _is_current_strength(user.password_hash):
        password_hash = hash_password(password)  # before the transaction: it takes a while
        with transaction():
            user.password_hash = password_hash
    return user


def end_sessions(user_id):
    """End every page session of the user (on every device): their generation moves on."""
    with transaction():
        db.session.execute(update(User).where(User.id == user_id)
                           .values(session_version=User.session_version + 1))


def change_password(user, current_password, new_password):
    """Set a new password (already checked by ``rules.clean_password``); end every page session
    and revoke every API token of the user. The caller logs the current session in again.

    :raise WrongPasswordError: ``current_password`` is not the user's password.
    """
    if not check_password_hash(user.password_hash, current_password):
        raise WrongPasswordError()
    user_id = user.id
    _replace_password(user_id, new_password)
    return db.session.get(User, user_id, populate_existing=True)


def set_password(user_id, new_password):
    """An operator's reset (``flask set-password``): a new password (already checked by the
    policy); every page session and API token of the user ends, and mailed reset links die."""
    _replace_password(user_id, new_password)


def _replace_password(user_id, new_password):
    """The new password's hash, a new session generation and no API tokens, in one transaction
    (the hash is made before it: it takes a while)."""
    password_hash = hash_password(new_password)
    with transaction():
        db.session.execute(update(User).where(User.id == user_id).values(
            password_hash=password_hash, session_version=User.session_version + 1))
        db.session.execute(delete(ApiToken).where(ApiToken.user_id == user_id))


def set_admin(user):
    with transaction():
        user.is_admin = True


def _matching_users(text=None):
    query = select(User)
    if text:
        pattern = text.lower()
        query = query.where(or_(User.username_key.contains(pattern, autoescape=True),
                                func.lower(User.full_name).contains(pattern, autoescape=True)))
    return query


def search_users(text=None, skip=0, limit=25):
    """Users whose username or full name contains ``text`` (any case), by username."""
    query = _matching_users(text).order_by(User.username_key).offset(skip).limit(limit)
    return db.session.scalars(query).all()


def count_users(text=None):
    return db.session.scalar(select(func.count()).select_from(_matching_users(text).subquery()))


def get_user(user_id):
    """:raise UserNotFoundError:"""
    user = db.session.get(User, user_id)
    if user is None:
        raise UserNotFoundError()
    return user


_users, _tokens = User.__table__, ApiToken.__table__
# A user as the API shows it, read as a plain row.
_OWNER_COLUMNS = (_users.c.id, _users.c.username, _users.c.full_name, _users.c.is_admin, _users.c.email,
                  _users.c.email_verified)
# What every authenticated API request reads about its caller: no more than it needs.
_CALLER_COLUMNS = _OWNER_COLUMNS[:4]


def grant_admin(user_id, by_user_id):
    """Make a user an admin; returns the user. Granting to an admin changes (and logs) nothing.

    :raise UserNotFoundError:
    """
    with transaction():
        granted = db.session.execute(
            update(_users).where(_users.c.id == user_id, _users.c.is_admin.is_(False))
            .values(is_admin=True).returning(*_OWNER_COLUMNS)).first()
    if granted is None:  # the UPDATE touched no row: nothing changed
        return user_row(user_id)
    log.info("admin granted", extra={"user_id": user_id, "by_user_id": by_user_id})
    return granted


# The shop can never be left without an admin: nobody may revoke themself, and the asker must
# still be an admin when the change commits. Both are decided by ONE statement that writes the
# asker's row and the target's row together:
#
#     UPDATE users SET is_admin = (id <> :target)
#      WHERE id IN (:target, :asker) AND is_admin
#
# and it counts only if it touched both rows. Writing the asker's row (to the value it has) is
# the point: it takes that row's lock. Two admins A and B revoking each other at once both want
# the rows of A and B; on PostgreSQL the second waits for the first's row locks, then (READ
# COMMITTED re-checks the WHERE on the rows' newest versions) finds its asker no longer an
# admin, touches one row only, and is rolled back. A plain ``... WHERE id = :target AND (SELECT
# count(*) FROM users WHERE is_admin AND id <> :target) >= 1`` would not do: each statement
# locks only its own target and counts from a snapshot that cannot see the other's uncommitted
# revoke, so both pass and no admin is left. Both statements lock the two rows in the same scan
# order, so they queue rather than deadlock. On SQLite one writer runs at a time and the
# statement reads the newest data. So after every committed revoke its asker is an admin,
# whatever runs beside it.

def revoke_admin(user_id, by_user_id):
    """Take a user's admin rights away, asked by the admin ``by_user_id``; returns the user.
    Revoking from a user who is not an admin changes (and logs) nothing. The asker must stay
    an admin (see the comment above).

    :raise AdminRevokeError: the user is the asker, or the asker lost their admin rights first.
    :raise UserNotFoundError:
    """
    if user_id == by_user_id:
        raise AdminRevokeError("You cannot revoke your own admin rights; another admin can.")
    try:
        with transaction():
            touched = db.session.execute(
                update(_users).where(_users.c.id.in_([user_id, by_user_id]), _users.c.is_admin.is_(True))
                .values(is_admin=_users.c.id != user_id).returning(*_OWNER_COLUMNS)).all()
            if len(touched) != 2:  # rolled back: it may have touched one of the two rows
                raise AdminRevokeError("You are no longer an admin (another admin revoked your rights "
                                       "first); nothing was changed.")
    except AdminRevokeError:
        user = user_row(user_id)  # after the rollback, to explain
        if not user.is_admin:
            return user
        raise
    log.info("admin revoked", extra={"user_id": user_id, "by_user_id": by_user_id})
    return next(row for row in touched if row.id == user_id)


def user_row(user_id):
    """The user as the API shows it (a row).

    :raise UserNotFoundError:
    """
    row = db.session.execute(select(*_OWNER_COLUMNS).where(_users.c.id == user_id)).first()
    if row is None:
        raise UserNotFoundError()
    return row


def _digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user):
    """A new random bearer token for the user: ``(token, seconds until it expires)``.

    Only its SHA-256 is stored. The user keeps at most ``MAX_TOKENS_PER_USER`` live tokens:
    the oldest go when a new one is issued.
    """
    token = secrets.token_urlsafe(32)
    ttl = int(current_app.config["TOKEN_TTL_SECONDS"])
    user_id = user.id
    newest = (select(ApiToken.id).where(ApiToken.user_id == user_id)
              .order_by(ApiToken.id.desc()).limit(int(current_app.config["MAX_TOKENS_PER_USER"])))
    with transaction():
        now = utcnow()
        # Tidy up as we go: the user's expired tokens are of no use to anyone.
        db.session.execute(delete(ApiToken).where(ApiToken.user_id == user_id, ApiToken.expires_at <= now))
        db.session.add(ApiToken(token_hash=_digest(token), user_id=user_id,
                                expires_at=now + timedelta(seconds=ttl)))
        db.session.flush()
        # Two logins racing may each keep their own newest set for a moment; the next login trims.
        db.session.execute(delete(ApiToken).where(ApiToken.user_id == user_id, ApiToken.id.not_in(newest)))
    return token, ttl


# Built once: every authenticated API request runs it. Plain columns, not a ``User``
# object: the API needs only these, and building an ORM object (then expiring it at the
# commit) is Python work the hottest path can do without.
_TOKEN_OWNER = (select(*_CALLER_COLUMNS)
                .join(_tokens, _tokens.c.user_id == _users.c.id)
                .where(_tokens.c.token_hash == bindparam("digest"), _tokens.c.expires_at > bindparam("now")))


def user_for_token(token, connection=None):
    """The owner of a live token as a row (``id, username, full_name, is_admin``), or None
    (unknown, expired or revoked); ``user_row`` reads the rest. Run on ``connection`` (a purchase's,
    ``inventory.selling``), or on the session's: a Core statement needs none of the ORM's execution
    machinery, which costs every API request 1.4 % of its instructions."""
    connection = connection or db.session.connection()
    return connection.execute(_TOKEN_OWNER, {"digest": _digest(token), "now": utcnow()}).first()


def revoke_token(token):
    with transaction():
        db.session.execute(delete(ApiToken).where(ApiToken.token_hash == _digest(token)))


def purge_expired_tokens():
    """Delete every expired token, and every mailed link that expired or was used; returns how
    many API tokens went."""
    now = utcnow()
    with transaction():
        deleted = db.session.execute(delete(ApiToken).where(ApiToken.expires_at <= now)).rowcount
        db.session.execute(delete(EmailToken).where(
            or_(EmailToken.expires_at <= now, EmailToken.used_at.is_not(None))))
    return deleted
