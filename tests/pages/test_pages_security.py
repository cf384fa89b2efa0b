"""Security headers on every response, error pages, no inline script, and the safe-redirect check."""
import re

import pytest
from support.harness import CHEAP_HASH
from support.pages import Pages

from sweetshop import create_app
from sweetshop.security import is_local_path

# Forms, sessions and templates: the SQL under them runs on both databases in tests/domain and
# tests/api, so these run on SQLite only (docs/testing.md).
pytestmark = pytest.mark.databases("sqlite")


@pytest.fixture
def pages(client):
    return Pages(client)


def test_every_response_carries_the_security_headers(pages, api):
    sweet = api.sweet()
    responses = {
        "page": pages.client.get("/"),
        "page 404": pages.client.get("/no-such-page"),
        "page 405": pages.client.get("/logout"),
        "page 400 (no CSRF)": pages.client.post("/register", data={}),
        "static file": pages.client.get("/static/style.css"),
        "api": pages.client.get("/api/sweets"),
        "api 404": pages.client.get("/api/no-such-route"),
        "api 401": pages.client.post(f"/api/sweets/{sweet['id']}/purchase"),
    }
    for name, response in responses.items():
        csp = response.headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in csp, name
        assert re.search(r"script-src 'self'(;|$)", csp), name  # no 'unsafe-inline'
        assert response.headers.get("X-Content-Type-Options") == "nosniff", name
        assert response.headers.get("X-Frame-Options") == "DENY", name
        response.close()


def test_errors_are_pages_outside_the_api_and_json_inside(pages):
    page = pages.client.get("/no-such-page")
    assert page.status_code == 404 and page.content_type.startswith("text/html")
    assert "Not Found" in page.text and "Back to the catalogue" in page.text
    assert pages.client.get("/api/no-such-route").json == {"detail": "Not Found"}
    gone = pages.client.get("/logout")
    assert gone.status_code == 405 and "POST" in gone.headers["Allow"]  # Allow survives the page


def test_pages_have_no_inline_script_or_style(pages):
    fudge = pages.sweet(quantity=2)
    pages.admin()
    paths = ["/", "/purchases", "/admin", "/admin/sweets/new", f"/admin/sweets/{fudge}/edit",
             f"/admin/sweets/{fudge}/archive", f"/admin/sweets/{fudge}", "/login", "/register", "/nope"]
    for path in paths:
        text = pages.client.get(path).text
        assert "<script" not in text, path
        assert not re.search(r"\sstyle=|\son[a-z]+=", text), path


def test_every_input_has_a_label(pages):
    fudge = pages.sweet(quantity=2)
    pages.admin()
    for path in ["/", "/admin", "/admin/sweets/new", f"/admin/sweets/{fudge}/edit", "/login", "/register"]:
        text = pages.client.get(path).text
        labelled = set(re.findall(r'<label[^>]*for="([^"]+)"', text))
        for tag in re.findall(r"<(?:input|select)\b[^>]*>", text):
            if 'type="hidden"' in tag:
                continue
            field_id = re.search(r'\sid="([^"]+)"', tag)
            assert field_id and field_id.group(1) in labelled, (path, tag)


@pytest.mark.parametrize("target, safe", [
    ("/", True), ("/purchases?page=2", True), ("/admin/sweets/3", True),
    ("", False), (None, False), ("//evil.example", False), ("///evil.example", False),
    ("https://evil.example/", False), ("http:/evil.example", False), ("/\\evil.example", False),
    ("\\/evil.example", False), ("javascript:alert(1)", False), ("/\t/evil.example", False),
    ("/\n/evil.example", False), ("evil.example/x", False), ("/ok path", False),
])
def test_is_local_path(target, safe):
    assert is_local_path(target) is safe


def test_a_server_error_is_a_plain_page_without_a_stack_trace(app_of_its_own):
    def broken():
        raise RuntimeError("secret internals")

    app = app_of_its_own
    app.add_url_rule("/broken", view_func=broken)
    response = app.test_client().get("/broken")
    assert response.status_code == 500 and response.content_type.startswith("text/html")
    assert "Internal Server Error" in response.text
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_answer_503_while_the_database_is_down():
    # Nothing listens on port 1: every connection is refused at once.
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "PASSWORD_HASH_METHOD": CHEAP_HASH,
                      "SQLALCHEMY_DATABASE_URI": "postgresql://postgres@127.0.0.1:1/sweetshop"})
    response = app.test_client().get("/")
    assert response.status_code == 503 and response.content_type.startswith("text/html")
    assert "Database unavailable, please retry shortly" in response.text
    assert response.headers["Retry-After"] == "5"
