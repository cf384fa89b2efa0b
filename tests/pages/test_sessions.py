"""Sessions end on the server, /account password change, the password policy, the token cap and
the headers for personal responses."""
import statistics
import time

import pytest
from support.harness import CHEAP_HASH, TEST_PASSWORD
from support.pages import Pages, field_error, flashes

from config import Config
from sweetshop import create_app
from sweetshop.extensions import db

# Forms, sessions and templates: the SQL under them runs on both databases in tests/domain and
# tests/api, so these run on SQLite only (docs/testing.md).
pytestmark = pytest.mark.databases("sqlite")

NEW_PASSWORD = "a new secret 22"


@pytest.fixture
def pages(client):
    return Pages(client)


def _copy_of_session(pages):
    """A second client holding a copy of ``pages``' session cookie (as a thief would)."""
    thief = pages.app.test_client()
    thief.set_cookie("session", pages.client.get_cookie("session").value)
    return thief


def _logged_in(client):
    response = client.get("/orders")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def test_a_copied_session_cookie_is_refused_after_logout(pages):
    pages.customer("carol")
    thief = _copy_of_session(pages)
    assert _logged_in(thief)  # the control: the copy works while the session lives
    assert pages.post("/logout").status_code == 302
    assert not _logged_in(pages.client)
    assert not _logged_in(thief)
    assert thief.get("/account").status_code == 302
    # Logging in again makes a new session; the old copy stays dead.
    pages.login("carol")
    assert _logged_in(pages.client) and not _logged_in(thief)


def test_a_session_older_than_its_lifetime_is_refused(pages, app):
    assert Config.PERMANENT_SESSION_LIFETIME == 12 * 3600
    app.config["PERMANENT_SESSION_LIFETIME"] = 1
    pages.customer("carol")
    assert _logged_in(pages.client)
    time.sleep(2.1)
    assert not _logged_in(pages.client)


def test_password_change_ends_other_sessions_and_tokens_and_keeps_this_one(pages, api, app):
    pages.customer("carol")
    other_browser = Pages(app.test_client())
    assert other_browser.login("carol").status_code == 302
    token = api.login("carol")
    assert api.client.get("/api/auth/me", headers=token).status_code == 200

    page = pages.client.get("/account")
    assert page.status_code == 200 and "Change your password" in page.text
    response = pages.post("/account", {"current_password": TEST_PASSWORD, "password": NEW_PASSWORD,
                                       "confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response.location == "/account"
    assert ("success", "Password changed. Your other sessions and API tokens have ended.") in \
        flashes(pages.client.get("/account"))
    assert _logged_in(pages.client)
    assert not _logged_in(other_browser.client)
    assert api.client.get("/api/auth/me", headers=token).status_code == 401
    assert api.client.post("/api/auth/login", data={"username": "carol", "password": TEST_PASSWORD}
                           ).status_code == 401
    assert api.client.post("/api/auth/login", data={"username": "carol", "password": NEW_PASSWORD}
                           ).status_code == 200


@pytest.mark.parametrize("form, field, message", [
    ({"current_password": "not it at all"}, "current_password", "That is not your current password."),
    ({"password": "Password1", "confirm": "Password1"}, "password",
     "Is one of the most common passwords, which are guessed first: choose another."),
    ({"password": "tab\there ok", "confirm": "tab\there ok"}, "password",
     "Must not contain control characters."),
    ({"confirm": "something else"}, "confirm", "The passwords do not match."),
])
def test_password_change_refusals_say_why_and_change_nothing(pages, app, form, field, message):
    pages.customer("carol")
    other_browser = Pages(app.test_client())
    other_browser.login("carol")
    data = {"current_password": TEST_PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD, **form}
    response = pages.post("/account", data)
    assert response.status_code == 422
    assert field_error(response, field) == message
    assert _logged_in(pages.client) and _logged_in(other_browser.client)
    assert pages.post("/logout").status_code == 302
    assert pages.login("carol").status_code == 302  # the old password still works


def test_account_needs_a_login(client):
    response = client.get("/account")
    assert response.status_code == 302 and response.location.startswith("/login?next=")


def test_guessing_the_current_password_is_throttled_like_a_login(pages, app):
    app.config["LOGIN_FAILURE_LIMIT_PER_ACCOUNT_AND_ADDRESS"] = "3 per minute"
    pages.customer("carol")  # its successful login cleared the count
    for _ in range(3):
        response = pages.post("/account", {"current_password": "guess", "password": NEW_PASSWORD,
                                           "confirm": NEW_PASSWORD})
        assert response.status_code == 422
    response = pages.post("/account", {"current_password": TEST_PASSWORD, "password": NEW_PASSWORD,
                                       "confirm": NEW_PASSWORD})
    assert response.status_code == 429 and "Retry-After" in response.headers


# --- the password policy ----------------------------------------------------------------------

@pytest.mark.parametrize("password, message", [
    ("password", "Is one of the most common passwords, which are guessed first: choose another."),
    ("PassWord1", "Is one of the most common passwords, which are guessed first: choose another."),
    ("QWERTYUIOP", "Is one of the most common passwords, which are guessed first: choose another."),
    ("\x00" * 8, "Must not contain control characters."),
    ("new\nline 123", "Must not contain control characters."),
    ("bell\x07 rings 1", "Must not contain control characters."),
])
def test_common_passwords_and_control_characters_are_refused(client, password, message):
    response = client.post("/api/auth/register", json={"username": "newbie", "password": password})
    assert response.status_code == 422
    assert response.json["errors"] == {"password": [message]}


def test_the_register_form_says_why_a_password_is_refused(pages):
    response = pages.register("newbie", password="iloveyou")
    assert response.status_code == 422
    assert field_error(response, "password") == \
        "Is one of the most common passwords, which are guessed first: choose another."
    assert "not one of the most common passwords" in pages.client.get("/register").text


def test_the_shipped_list_holds_at_least_ten_thousand_passwords():
    from sweetshop.rules import common_passwords
    assert len(common_passwords()) >= 10_000
    assert {"123456", "password", "letmein", "trustno1"} <= common_passwords()
    assert TEST_PASSWORD not in common_passwords()


@pytest.mark.timing
def test_a_taken_name_takes_about_as_long_as_a_free_one(app, client):
    """Registration hashes before it looks the name up, so the time tells nothing; allow 2x."""
    app.config.update(PASSWORD_HASH_METHOD="pbkdf2:sha256:100000", RATELIMIT_ENABLED=False)
    client.post("/api/auth/register", json={"username": "taken", "password": TEST_PASSWORD})

    def timed(username):
        start = time.perf_counter()
        response = client.post("/api/auth/register", json={"username": username, "password": TEST_PASSWORD})
        assert response.status_code == (400 if username == "taken" else 201)
        return time.perf_counter() - start

    taken, free = [], []
    for number in range(7):  # interleaved, so a busy machine slows both alike
        taken.append(timed("taken"))
        free.append(timed(f"free{number}"))
    ratio = statistics.median(taken) / statistics.median(free)
    assert 0.5 < ratio < 2, (taken, free)


# --- tokens -------------------------------------------------------------------------------------

def test_a_user_holds_at_most_the_configured_number_of_tokens(api, app, client):
    assert Config.MAX_TOKENS_PER_USER == 10
    app.config["MAX_TOKENS_PER_USER"] = 3
    tokens = [api.user("alice")] + [api.login("alice") for _ in range(4)]
    alive = [client.get("/api/auth/me", headers=token).status_code for token in tokens]
    assert alive == [401, 401, 200, 200, 200]  # the oldest went as new ones came


# --- headers --------------------------------------------------------------------------------------

def test_personal_responses_are_not_stored(pages, api):
    token = api.user("alice")
    assert api.client.get("/api/auth/me", headers=token).headers["Cache-Control"] == "no-store"
    response = pages.register("carol")
    assert "Set-Cookie" in response.headers and response.headers["Cache-Control"] == "no-store"
    response = pages.login("carol")
    assert response.headers["Cache-Control"] == "no-store"
    for path in ("/account", "/orders", "/"):
        assert pages.client.get(path).headers["Cache-Control"] == "no-store", path
    assert pages.post("/logout").headers["Cache-Control"] == "no-store"
    pages.admin("boss")
    assert pages.client.get("/admin").headers["Cache-Control"] == "no-store"


def test_public_responses_stay_cacheable(app):
    anonymous = app.test_client()
    for path in ("/", "/api/sweets", "/static/style.css"):
        with anonymous.get(path) as response:
            assert response.status_code == 200
            assert "no-store" not in response.headers.get("Cache-Control", ""), path


@pytest.mark.parametrize("environment, expected", [
    ("production", f"max-age={365 * 24 * 3600}"), ("development", None)])
def test_hsts_is_sent_in_production(tmp_path, monkeypatch, environment, expected):
    monkeypatch.setenv("SWEETSHOP_CONFIG", environment)
    app = create_app({"SECRET_KEY": "x" * 32, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/h.sqlite",
                      "PASSWORD_HASH_METHOD": CHEAP_HASH})
    with app.app_context():
        db.create_all()
        assert app.test_client().get("/api/health").headers.get("Strict-Transport-Security") == expected
        db.engine.dispose()
