"""Request limits (body size), security headers on every response, bearer tokens only in the header."""
import os

import pytest
import requests

from support.harness import TEST_PASSWORD, LiveServer, migrated_database
from sweetshop import create_app

# Body limits and headers are the same on every database: SQLite only.
pytestmark = pytest.mark.databases("sqlite")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def assert_security_headers(response):
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.status_code, response.request.path)
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Request-ID"]


def big_json(size):
    """A valid new sweet, padded with JSON whitespace to about ``size`` bytes."""
    return '{"name": "Big", "category": "C",' + " " * size + '"price": 1, "quantity": 1}'


# --- body size ------------------------------------------------------------------------------

def test_api_body_over_the_limit_is_a_json_413_and_changes_nothing(api, client):
    response = client.post("/api/sweets", headers=api.admin, data=big_json(70 * 1024),
                           content_type="application/json")
    assert response.status_code == 413
    assert response.is_json and response.json == {"detail": "Request Entity Too Large"}
    assert_security_headers(response)
    assert client.get("/api/sweets").json == []


def test_form_login_over_the_limit_is_413_too(client):
    response = client.post("/api/auth/login", data={"username": "a", "password": "p" * 70_000})
    assert response.status_code == 413 and response.is_json


def test_page_post_over_the_limit_is_an_html_413(client):
    response = client.post("/login", data={"username": "a", "password": "p" * 70_000})
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert_security_headers(response)


def test_the_limit_is_a_setting(api, app, client):
    app.config["MAX_CONTENT_LENGTH"] = 2048
    assert client.post("/api/sweets", headers=api.admin, data=big_json(1000),
                       content_type="application/json").status_code == 201
    assert client.post("/api/sweets", headers=api.admin, data=big_json(3000),
                       content_type="application/json").status_code == 413


@pytest.mark.slow
def test_through_the_server_a_chunked_body_without_length_is_cut_off_at_the_limit(tmp_path):
    with migrated_database("sqlite", tmp_path) as url:
        server = LiveServer(url, workers=1, MAX_CONTENT_LENGTH=2048)
        try:
            admin = {**server.token("boss", admin=True), "Content-Type": "application/json"}

            def chunks(size):
                body = big_json(size).encode()
                for start in range(0, len(body), 512):
                    yield body[start:start + 512]

            url = server.base + "/api/sweets"
            small = requests.post(url, headers=admin, data=chunks(500), timeout=30)
            assert small.status_code == 201  # chunked, under the limit: fine
            big = requests.post(url, headers=admin, data=chunks(5000), timeout=30)
            assert big.status_code == 413 and big.json() == {"detail": "Request Entity Too Large"}
            plain = requests.post(url, headers=admin, data=big_json(5000), timeout=30)
            assert plain.status_code == 413
            assert [s["name"] for s in requests.get(url, timeout=30).json()] == ["Big"]
        finally:
            server.stop()
            os.unlink(server.log.name)


# --- security headers -------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/", 200),
    ("GET", "/login", 200),
    ("GET", "/static/style.css", 200),
    ("GET", "/admin", 302),
    ("GET", "/no-such-page", 404),
    ("GET", "/api/sweets", 200),
    ("GET", "/api/openapi.json", 200),
    ("GET", "/api/health", 200),
    ("GET", "/api/nowhere", 404),
    ("GET", "/api/sweets/999", 404),
    ("DELETE", "/api/sweets", 405),
    ("GET", "/api/auth/me", 401),
    ("GET", "/api/sweets?limit=0", 422),
    ("POST", "/api/auth/login", 422),
])
def test_every_response_carries_the_security_headers(client, method, path, status):
    with client.open(path, method=method) as response:
        assert response.status_code == status
        assert_security_headers(response)


def test_throttled_and_failing_responses_carry_them_too(app, client):
    for _ in range(6):
        response = client.post("/api/auth/login", data={"username": "x", "password": "y"})
    assert response.status_code == 429
    assert_security_headers(response)


def test_server_error_and_database_down_responses_carry_them_too():
    app = create_app({"TESTING": False, "SECRET_KEY": "x",
                      "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg2://nobody@127.0.0.1:1/none"})

    @app.get("/api/boom")
    def boom():
        raise RuntimeError("boom")

    client = app.test_client()
    response = client.get("/api/boom")
    assert response.status_code == 500 and response.json == {"detail": "Internal Server Error"}
    assert_security_headers(response)
    for path in ("/api/sweets", "/"):
        response = client.get(path)
        assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
        assert_security_headers(response)
    assert client.get("/api/sweets").json == {"detail": "Database unavailable, please retry shortly"}


# --- bearer tokens only in the Authorization header ----------------------------------------

def test_a_token_anywhere_but_the_authorization_header_is_ignored(api, client):
    headers = api.user("alice")
    token = headers["Authorization"].split()[1]
    assert client.get("/api/auth/me", headers=headers).status_code == 200
    refused = [
        client.get(f"/api/auth/me?access_token={token}"),
        client.get(f"/api/auth/me?token={token}"),
        client.post("/api/auth/logout", data={"access_token": token}),
        client.post("/api/auth/logout", json={"access_token": token}),
        client.get("/api/auth/me", headers={"X-Access-Token": token}),
        client.get("/api/auth/me", headers={"Authorization": f"Token {token}"}),
        client.get("/api/auth/me", headers={"Authorization": token}),
    ]
    client.set_cookie("access_token", token)
    refused.append(client.get("/api/auth/me"))
    assert [response.status_code for response in refused] == [401] * len(refused)
    # The token survived all that: none of those requests logged it out either.
    assert client.get("/api/auth/me", headers=headers).status_code == 200


def test_the_api_ignores_the_page_session_cookie(api, client):
    api.user("alice")
    assert client.post("/login", data={"username": "alice", "password": TEST_PASSWORD}).status_code == 302
    assert client.get("/orders").status_code == 200  # the session works for pages
    refused = [client.get("/api/auth/me"), client.get("/api/purchases")]
    assert [response.status_code for response in refused] == [401, 401]
    # The API has no session at all: the cookie is neither refreshed nor a reason to vary.
    for response in [*refused, client.get("/api/sweets")]:
        assert "Set-Cookie" not in response.headers
        assert "Cookie" not in response.headers.get("Vary", "")
    assert client.get("/orders").status_code == 200  # and the pages' login is still there


def test_api_clients_without_a_cookie_get_none_and_pages_still_keep_a_session(api, client):
    """The API gets no session, and pages skip its setup when no cookie is sent
    (sweetshop.CookieSessionInterface)."""
    headers = api.user("alice")
    sweet = api.sweet()
    client.delete_cookie("session")
    for response in (client.get("/api/auth/me", headers=headers),
                     client.post(f"/api/sweets/{sweet['id']}/purchase", headers=headers, json={}),
                     client.get("/api/sweets")):
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers
        assert "Cookie" not in response.headers.get("Vary", "")
    login = client.post("/login", data={"username": "alice", "password": TEST_PASSWORD})
    assert login.status_code == 302 and "session=" in login.headers["Set-Cookie"]
    page = client.get("/orders")
    assert page.status_code == 200  # the cookie carries the login
    assert "Cookie" in page.headers["Vary"]  # as Flask marks a session it looked at
