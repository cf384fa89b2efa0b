"""Register, log in and log out pages: validation, safe redirects, session renewal, cookies."""
import pytest
from support.harness import CHEAP_HASH, TEST_PASSWORD
from support.pages import Pages, field_error, flashes, input_value

from sweetshop import accounts, create_app
from sweetshop.extensions import db

# Forms, sessions and templates: the SQL under them runs on both databases in tests/domain and
# tests/api, so these run on SQLite only (docs/testing.md).
pytestmark = pytest.mark.databases("sqlite")


@pytest.fixture
def pages(client):
    return Pages(client)


def test_register_logs_in_then_log_in_again(pages):
    response = pages.register("Carol", full_name="Carol Jones", is_admin="1")
    assert response.status_code == 302 and response.location == "/"
    page = pages.client.get(response.location)
    assert ("success", "Welcome, Carol! Your account is ready and you are logged in.") in flashes(page)
    assert "Log out" in page.text
    with pages.app.app_context():
        user = accounts.find_user("carol")
        assert user.full_name == "Carol Jones" and not user.is_admin  # the page never makes an admin

    pages.log_out()
    response = pages.login("carol")
    assert response.status_code == 302 and response.location == "/"
    assert "Log out" in pages.client.get("/").text


def test_register_shows_every_problem_next_to_its_field_and_keeps_the_input(pages):
    response = pages.post("/register", {"username": "a b", "full_name": "Al", "password": "short",
                                        "confirm": "other"})
    assert response.status_code == 422
    assert field_error(response, "username") == "Must be 3 to 32 letters, digits, '_', '.' or '-'."
    assert field_error(response, "password") == "Must be 8 to 128 characters."
    assert field_error(response, "confirm") == "The passwords do not match."
    assert input_value(response, "username") == "a b" and input_value(response, "full_name") == "Al"
    assert input_value(response, "password") in (None, "")  # a password is never sent back
    with pages.app.app_context():
        assert accounts.find_user("a b") is None


def test_register_refuses_a_taken_name_in_any_case(pages):
    assert pages.register("carol").status_code == 302
    response = pages.register("CAROL")
    assert response.status_code == 422
    assert field_error(response, "username") == "Username already registered"


def test_wrong_password_and_unknown_user_get_the_same_answer(pages):
    pages.register("carol")
    pages.log_out()
    answers = []
    for username, password in (("carol", "wrong password"), ("nobody", TEST_PASSWORD)):
        response = pages.login(username, password)
        assert response.status_code == 422
        answers.append(response.text.count("Incorrect username or password."))
        assert input_value(response, "username") == username
    assert answers == [1, 1]
    assert "Log in" in pages.client.get("/").text


@pytest.mark.parametrize("target, expected", [
    ("/purchases?page=2", "/purchases?page=2"),
    ("//evil.example/x", "/"),
    ("https://evil.example/", "/"),
    ("/\\evil.example", "/"),
    ("\\\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
    ("/\t/evil.example", "/"),
    ("evil.example", "/"),
])
def test_login_redirects_only_within_the_site(pages, target, expected):
    pages.register("carol")
    response = pages.login("carol", next=target)
    assert response.status_code == 302 and response.location == expected


def test_login_page_carries_next_from_the_query_string(pages):
    page = pages.client.get("/login?next=/purchases")
    assert input_value(page, "next") == "/purchases"


def test_login_renews_the_session(pages):
    pages.register("carol")
    pages.client.get("/login")
    with pages.client.session_transaction() as session:
        session["planted"] = "by someone before login"
        token_before = session["csrf_token"]
    response = pages.login("carol")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    with pages.client.session_transaction() as session:
        assert "planted" not in session
        assert session.get("csrf_token") != token_before
        assert session["_user_id"]


def test_logout_is_a_post_with_csrf(pages):
    pages.customer()
    assert pages.client.get("/logout").status_code == 405
    assert pages.client.post("/logout").status_code == 400  # no CSRF token
    assert "Log out" in pages.client.get("/").text
    response = pages.post("/logout")
    assert response.status_code == 302
    page = pages.client.get("/")
    assert "Log out" not in page.text and ("info", "You are logged out.") in flashes(page)
    assert pages.client.get("/orders").status_code == 302


def test_login_without_csrf_is_refused(pages):
    pages.register("carol")
    pages.log_out()
    response = pages.post("/login", {"username": "carol", "password": TEST_PASSWORD}, csrf=False)
    assert response.status_code == 400
    assert "Log out" not in pages.client.get("/").text


def test_production_session_cookie_is_secure(tmp_path, monkeypatch):
    monkeypatch.setenv("SWEETSHOP_CONFIG", "production")
    app = create_app({"SECRET_KEY": "x" * 32, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/p.sqlite",
                      "PASSWORD_HASH_METHOD": CHEAP_HASH})
    with app.app_context():
        db.create_all()
        accounts.register("carol", TEST_PASSWORD)
    pages = Pages(app.test_client())
    response = pages.login("carol")
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    with app.app_context():
        db.engine.dispose()
