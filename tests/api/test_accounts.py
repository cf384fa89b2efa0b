"""Accounts: unique names in any case, no admin by registration, hashed expiring tokens, password hashing."""
import hashlib
import statistics
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from config import CONFIGS
from sweetshop import accounts
from sweetshop.extensions import db
from sweetshop.models import ApiToken, User, utcnow


def register(client, username, password="long enough 1", **extra):
    return client.post("/api/auth/register", json={"username": username, "password": password, **extra})


def login(client, username, password="long enough 1"):
    return client.post("/api/auth/login", data={"username": username, "password": password})


def bearer(response):
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def stored_user(app, username):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username_key == username.lower()))
        db.session.expunge_all()
        return user


# --- registration ------------------------------------------------------------------------

def test_register_returns_the_user(client):
    response = register(client, "Alice", full_name=" Alice Liddell ")
    assert response.status_code == 201
    assert response.json == {"id": response.json["id"], "username": "Alice",
                             "full_name": "Alice Liddell", "is_admin": False,
                             "email": None, "email_verified": False}


def test_usernames_are_unique_regardless_of_case(app, client):
    assert register(client, "Alice").status_code == 201
    for taken in ("alice", "ALICE", "aLiCe"):
        response = register(client, taken)
        assert response.status_code == 400
        assert response.json == {"detail": "Username already registered"}
    with app.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM users")) == 1


def test_login_name_is_matched_regardless_of_case(client):
    register(client, "Alice")
    me = client.get("/api/auth/me", headers=bearer(login(client, "aLICE")))
    assert me.json["username"] == "Alice"


def test_registration_never_makes_an_admin(app, client):
    response = register(client, "mallory", is_admin=True)
    assert response.status_code == 422 and "is_admin" in response.json["errors"]
    assert stored_user(app, "mallory") is None
    assert register(client, "mallory", is_admin=False).json["is_admin"] is False
    assert stored_user(app, "mallory").is_admin is False


def test_password_is_stored_only_as_a_werkzeug_hash(app, client):
    register(client, "alice", password="s3cret-Pa55word")
    stored = stored_user(app, "alice").password_hash
    assert stored.startswith("pbkdf2:sha256:") and "s3cret-Pa55word" not in stored


# --- tokens ------------------------------------------------------------------------------

def test_login_gives_a_random_bearer_token_stored_only_as_its_hash(app, client):
    register(client, "alice")
    first, second = login(client, "alice"), login(client, "alice")
    assert first.json["token_type"] == "bearer" and first.json["expires_in"] == 24 * 3600
    tokens = [first.json["access_token"], second.json["access_token"]]
    assert tokens[0] != tokens[1] and all(len(token) >= 40 for token in tokens)
    with app.app_context():
        stored = set(db.session.scalars(select(ApiToken.token_hash)))
        dump = "\n".join(str(row) for table in db.metadata.sorted_tables
                         for row in db.session.execute(select(table)))
    assert stored == {hashlib.sha256(token.encode()).hexdigest() for token in tokens}
    assert not any(token in dump for token in tokens)


def test_wrong_password_and_unknown_user_get_the_same_answer(client):
    register(client, "alice")
    wrong, unknown = login(client, "alice", "wrong-password"), login(client, "nobody", "long enough 1")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json == {"detail": "Incorrect username or password"}


def test_token_lifetime_comes_from_the_setting(app, client):
    app.config["TOKEN_TTL_SECONDS"] = 120
    register(client, "alice")
    response = login(client, "alice")
    assert response.json["expires_in"] == 120
    with app.app_context():
        expires_at = db.session.scalar(select(ApiToken.expires_at))
        if expires_at.tzinfo is None:  # SQLite hands back naive UTC
            expires_at = expires_at.replace(tzinfo=utcnow().tzinfo)
        assert timedelta(seconds=100) < expires_at - utcnow() <= timedelta(seconds=120)


def test_an_expired_token_is_refused(app, client):
    register(client, "alice")
    headers = bearer(login(client, "alice"))
    assert client.get("/api/auth/me", headers=headers).status_code == 200
    with app.app_context():
        db.session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    response = client.get("/api/auth/me", headers=headers)
    assert response.status_code == 401 and response.json == {"detail": "Could not validate credentials"}


def test_logout_kills_that_token_at_once_and_only_that_one(client):
    register(client, "alice")
    phone, laptop = bearer(login(client, "alice")), bearer(login(client, "alice"))
    response = client.post("/api/auth/logout", headers=phone)
    assert response.status_code == 204 and response.data == b""
    assert client.get("/api/auth/me", headers=phone).status_code == 401
    assert client.post("/api/auth/logout", headers=phone).status_code == 401
    assert client.get("/api/auth/me", headers=laptop).json["username"] == "alice"


@pytest.mark.parametrize("authorization", ["", "Bearer", "Bearer ", "Basic YWxpY2U6cGFzcw==",
                                           "Bearer not-a-real-token"])
def test_me_needs_a_live_bearer_token(client, authorization):
    response = client.get("/api/auth/me", headers={"Authorization": authorization})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"


def test_the_session_cookie_is_not_an_api_login(client):
    register(client, "alice")
    login(client, "alice")
    assert client.get("/api/auth/me").status_code == 401


def test_login_accepts_json_as_well_as_the_form(client):
    register(client, "alice")
    response = client.post("/api/auth/login", json={"username": "alice", "password": "long enough 1"})
    assert response.status_code == 200 and response.json["token_type"] == "bearer"


# --- password hashing --------------------------------------------------------------------

def test_weaker_hash_is_upgraded_at_the_next_successful_login(app, client):
    register(client, "alice")
    assert stored_user(app, "alice").password_hash.startswith("pbkdf2:sha256:1000$")
    app.config["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:2000"

    assert login(client, "alice", "wrong-password").status_code == 401
    assert stored_user(app, "alice").password_hash.startswith("pbkdf2:sha256:1000$")

    assert login(client, "alice").status_code == 200
    upgraded = stored_user(app, "alice").password_hash
    assert upgraded.startswith("pbkdf2:sha256:2000$")
    assert login(client, "alice").status_code == 200
    assert stored_user(app, "alice").password_hash == upgraded  # no rehash when already current


def _strength(method):
    """``(algorithm, work factor)`` of a Werkzeug method string such as pbkdf2:sha256:600000."""
    parts = method.split(":")
    if parts[0] == "pbkdf2":
        return "pbkdf2:" + parts[1], int(parts[2])
    if parts[0] == "scrypt":
        return "scrypt", int(parts[1])
    raise AssertionError(f"unexpected method {method}")


@pytest.mark.parametrize("config", ["development", "production"])
def test_configured_hashing_is_asvs_strength(config):
    algorithm, work = _strength(CONFIGS[config].PASSWORD_HASH_METHOD)
    assert (algorithm == "pbkdf2:sha256" and work >= 600_000) or \
        (algorithm == "scrypt" and work >= 2 ** 17)


def test_production_method_makes_a_hash_of_that_strength(app):
    method = CONFIGS["production"].PASSWORD_HASH_METHOD
    with app.app_context():
        app.config["PASSWORD_HASH_METHOD"] = method
        stored = accounts.hash_password("long enough 1")
    assert _strength(stored.split("$")[0]) == _strength(method)


@pytest.mark.timing
def test_unknown_user_takes_about_as_long_as_a_wrong_password(app, client):
    """Without the dummy hash check an unknown name answers ~100x faster; allow 2x either way."""
    app.config.update(PASSWORD_HASH_METHOD="pbkdf2:sha256:100000", RATELIMIT_ENABLED=False)
    register(client, "alice")
    login(client, "nobody", "long enough 1")  # warm up: the dummy hash is made once per method

    def timed(username):
        start = time.perf_counter()
        assert login(client, username, "wrong-password").status_code == 401
        return time.perf_counter() - start

    wrong, unknown = [], []
    for _ in range(7):  # interleaved, so a busy machine slows both alike
        wrong.append(timed("alice"))
        unknown.append(timed("nobody"))
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.5 < ratio < 2, (wrong, unknown)


def test_a_name_no_account_can_have_is_still_throttled(app, client, caplog):
    """A lone surrogate in the name (valid JSON, not UTF-8) counts like any failed login."""
    app.config["LOGIN_ATTEMPT_LIMIT_PER_ACCOUNT"] = "2 per minute"
    body = '{"username": "\\ud800", "password": "long enough 1"}'
    statuses = [client.post("/api/auth/login", data=body, content_type="application/json").status_code
                for _ in range(3)]
    assert statuses == [401, 401, 429]
    assert "not throttling" not in caplog.text
