"""Crafted requests: query keys that ``url_for`` reserves, a forged or malformed ``Host``, a price
with an absurd exponent, dates beyond the calendar, malformed chunked bodies, bodies with fields
nobody asked for and invented HTTP methods all get a clear 4xx (or a bounded metric), never a 500."""
import secrets
import socket

import pytest
import requests

from support.harness import LiveServer, migrated_database
from support.pages import Pages

# Request parsing and pagers: SQLite only, except the absurd price bound (PostgreSQL's numeric).
pytestmark = pytest.mark.databases("sqlite")

# Every keyword argument of ``flask.url_for`` that is not a URL value, plus ``page`` twice.
RESERVED = ["endpoint=x", "_method=DELETE", "_external=1", "_anchor=top%22%3E", "_scheme=javascript",
            "_external=1&_scheme=https", "values=1", "page=2&page=x"]


@pytest.fixture
def pages(client):
    return Pages(client)


def _pager_links(text):
    return [line for line in text.splitlines() if 'rel="next"' in line or 'rel="prev"' in line]


@pytest.mark.parametrize("query", RESERVED)
def test_catalogue_pager_ignores_reserved_and_unknown_query_keys(pages, app, query):
    app.config["CATALOGUE_PAGE_SIZE"] = 1
    for name in ("Fudge", "Toffee", "Humbug"):
        pages.sweet(name)
    response = pages.client.get(f"/?name=&category=&{query}&page=2", headers={"Host": "evil.example"})
    assert response.status_code == 200
    links = _pager_links(response.text)
    assert links, "the pager must show for this test to mean anything"
    assert all('href="/?' in link for link in links), links
    assert "evil.example" not in response.text and "javascript:" not in response.text
    for key in ("endpoint", "_method", "_external", "_anchor", "_scheme", "values"):
        assert key not in " ".join(links)


def test_catalogue_pager_keeps_the_search_filters(pages, app):
    app.config["CATALOGUE_PAGE_SIZE"] = 1
    for name in ("Fudge a", "Fudge b"):
        pages.sweet(name)
    response = pages.client.get("/?name=Fudge&min_price=1&unknown=1")
    next_link = [link for link in _pager_links(response.text) if 'rel="next"' in link][0]
    assert "name=Fudge" in next_link and "min_price=1" in next_link and "page=2" in next_link
    assert "unknown" not in next_link


@pytest.mark.parametrize("query", RESERVED)
def test_admin_orders_pager_ignores_reserved_query_keys(pages, api, app, query):
    app.config["ORDERS_PAGE_SIZE"] = 1
    sweet_id = api.sweet()["id"]
    buyer = api.user("dora")
    for _ in range(3):
        assert api.client.post("/api/orders", headers=buyer, json={
            "items": [{"sweet_id": sweet_id, "quantity": 1}]}).status_code == 201
    pages.admin()
    # The test client's cookie jar would hold the session back from another host: send it by hand.
    cookie = pages.client.get_cookie("session").value
    response = app.test_client(use_cookies=False).get(
        f"/admin/orders?status=placed&{query}&page=2",
        headers={"Host": "evil.example", "Cookie": f"session={cookie}"})
    assert response.status_code == 200
    links = _pager_links(response.text)
    assert len(links) == 2, links
    assert all('href="/admin/orders?status=placed&amp;page=' in link for link in links), links
    assert "evil.example" not in response.text


@pytest.mark.parametrize("query", RESERVED)
def test_orders_pager_ignores_reserved_query_keys(pages, app, query):
    """/orders (which /purchases now redirects to) pages by ``page`` alone, whatever else is sent."""
    from sweetshop import accounts, orders
    app.config["ORDERS_PAGE_SIZE"] = 1
    sweet_id = pages.sweet()
    pages.customer()
    with app.app_context():
        carol = accounts.find_user("carol").id
        for _ in range(3):
            orders.place_order(carol, [(sweet_id, 1)])
    # The test client's cookie jar would hold the session back from another host: send it by hand.
    cookie = pages.client.get_cookie("session").value
    response = app.test_client(use_cookies=False).get(
        f"/orders?{query}&page=2", headers={"Host": "evil.example", "Cookie": f"session={cookie}"})
    assert response.status_code == 200
    links = _pager_links(response.text)
    assert len(links) == 2 and all('href="/orders?page=' in link for link in links), links
    assert "evil.example" not in response.text


@pytest.mark.databases("sqlite", "postgresql")
@pytest.mark.parametrize("bound", ["0e-999999", "0E-99999999999", "0.00e5", "1e-999999"])
def test_a_price_bound_with_an_absurd_exponent_is_answered(api, client, bound):
    api.sweet(price=2)
    response = client.get(f"/api/sweets/search?min_price={bound}")
    if bound.startswith("1e"):
        assert response.status_code == 422  # not whole cents
    else:
        assert response.status_code == 200 and len(response.json) == 1
    assert client.get(f"/?min_price={bound}&max_price={bound}").status_code == 200


# --- malformed chunked bodies, against a real server (the test client does not parse chunking) ---

CHUNKED = {
    "size not hex": b"zz\r\n{}\r\n0\r\n\r\n",
    "negative size": b"-2\r\n{}\r\n0\r\n\r\n",
    "huge size": b"ffffffffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
    "size with junk": b"2;\x00\r\n{}\r\n0\r\n\r\n",
    "missing CRLF after data": b"2\r\n{}XX0\r\n\r\n",
    "no last chunk": b"2\r\n{}\r\n",
    "truncated data": b"10\r\n{\"usern",
    "empty size line": b"\r\n{}\r\n0\r\n\r\n",
}


def _raw_post(server, path, body, content_type="application/json", half_close=True):
    """POST ``body`` with ``Transfer-Encoding: chunked`` as given; the status line's code."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
                     "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode() + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)  # a truncated body ends here, as when a client gives up
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    # None: the server closed the connection without an answer (granian's HTTP parser refuses
    # some framing before the app sees the request); never a 5xx either way.
    return (int(answer.split(b" ", 2)[1]) if answer else None), answer


@pytest.mark.slow
@pytest.mark.parametrize("path, content_type", [
    ("/api/auth/login", "application/json"),
    ("/api/auth/register", "application/json"),
    ("/login", "application/x-www-form-urlencoded"),
])
def test_malformed_chunked_bodies_are_400(live_server, path, content_type):
    answers = {case: _raw_post(live_server, path, body, content_type) for case, body in CHUNKED.items()}
    # Granian reads the framing before the app: what it cannot read reaches the view as a bad
    # body (a 4xx from the view) or is closed unanswered. Either way a clear refusal, never a 5xx.
    wrong = {case: status for case, (status, _) in answers.items()
             if status is not None and not 400 <= status < 500}
    assert not wrong, wrong
    assert all(b"Traceback" not in answer for _, answer in answers.values())
    # The control: the same framing done right reaches the view.
    status, _ = _raw_post(live_server, path, b"2\r\n{}\r\n0\r\n\r\n", content_type, half_close=False)
    assert status in (400, 422)
    assert "Traceback" not in live_server.log_text()
    assert "unhandled error" not in live_server.log_text()


# --- a Host header that is no host name ------------------------------------------------------

BAD_HOSTS = ["a" * 64, "a..b", "a" * 64 + ".example"]


@pytest.mark.parametrize("host", BAD_HOSTS)
@pytest.mark.parametrize("path", ["/", "/login", "/admin/data", "/no-such-page"])
def test_a_malformed_host_gets_a_plain_400_page(client, host, path):
    response = client.get(path, headers={"Host": host})
    assert response.status_code == 400
    assert response.content_type == "text/html; charset=utf-8"
    assert "<h1>400 Bad Request</h1>" in response.text and "href" not in response.text


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_a_malformed_host_gets_a_json_400_from_the_api(client, host):
    response = client.post("/api/auth/login", headers={"Host": host}, json={"username": "x", "password": "y"})
    assert response.status_code == 400 and response.json == {"detail": "Bad Request"}


# --- dates beyond what a shop's ledger holds --------------------------------------------------

@pytest.mark.parametrize("query", ["until=9999-12-31", "since=0001-01-01", "since=1899-12-31",
                                   "until=3000-01-01", "since=0001-01-01&until=9999-12-31"])
def test_far_dates_in_the_ledger_export_are_422(api, client, pages, query):
    response = client.get(f"/api/export/ledger.csv?{query}", headers=api.admin)
    assert response.status_code == 422, response.text
    assert "Must be a date from 1900-01-01 to 2999-12-31." in str(response.json["errors"])
    pages.admin()
    assert pages.client.get(f"/admin/export/ledger.csv?{query}").status_code == 422


def test_the_ledger_export_takes_the_first_and_last_day_allowed(api, client):
    response = client.get("/api/export/ledger.csv?since=1900-01-01&until=2999-12-31", headers=api.admin)
    assert response.status_code == 200


# --- bodies with fields nobody asked for ------------------------------------------------------

def _is_admin(api, client, username):
    users = client.get(f"/api/users?q={username}", headers=api.admin).json
    return [user["is_admin"] for user in users if user["username"] == username] == [True]


@pytest.mark.parametrize("body", [{"is_admin": False}, {"is_admin": "yes"}, {"is_admin": 1}, {"admin": True},
                                  [], "true"])
def test_granting_admin_refuses_a_body_that_says_anything_else(api, client, body):
    api.user("dora")
    user_id = client.get("/api/users?q=dora", headers=api.admin).json[0]["id"]
    response = client.post(f"/api/users/{user_id}/admin", headers=api.admin, json=body)
    assert response.status_code == 422, response.json
    assert not _is_admin(api, client, "dora")


@pytest.mark.parametrize("body", [None, {}, {"is_admin": True}])
def test_granting_admin_takes_no_body_an_empty_one_or_is_admin_true(api, client, body):
    api.user("dora")
    user_id = client.get("/api/users?q=dora", headers=api.admin).json[0]["id"]
    response = client.post(f"/api/users/{user_id}/admin", headers=api.admin,
                           **({} if body is None else {"json": body}))
    assert response.status_code == 200 and response.json["is_admin"] is True


def test_a_json_login_with_an_unknown_field_is_422_and_hashes_nothing(api, client, monkeypatch):
    from sweetshop import accounts
    api.user("alice")
    hashes = []
    real = accounts.check_password_hash
    monkeypatch.setattr(accounts, "check_password_hash", lambda *args: hashes.append(1) or real(*args))
    response = client.post("/api/auth/login", json={"username": "alice", "password": "correct horse 1",
                                                    "is_admin": True})
    assert response.status_code == 422 and response.json["errors"] == {"is_admin": ["Unknown field."]}
    assert hashes == []
    # The OAuth2 password form may carry its standard extra fields: they are ignored.
    response = client.post("/api/auth/login", data={"username": "alice", "password": "correct horse 1",
                                                    "grant_type": "password", "scope": ""})
    assert response.status_code == 200


# --- invented HTTP methods share one metrics label ---------------------------------------------

def _other_405s(client):
    """The methods labelled in the metrics, and how many invented ones health answered 405."""
    text = client.get("/metrics", headers={"Authorization": "Bearer secret-token"}).text
    methods = {line.split('method="')[1].split('"')[0] for line in text.splitlines() if 'method="' in line}
    counted = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(
        'sweetshop_http_requests_total{endpoint="unmatched",method="other",status="405"}')]
    return methods, sum(counted)


def test_invented_methods_are_counted_as_other(app, client):
    # The metrics live as long as the test process: compare before and after.
    app.config["METRICS_TOKEN"] = "secret-token"
    _, before = _other_405s(client)
    for method in ("BREW", "X" * 300, "PROPFIND"):
        assert client.open("/api/health", method=method).status_code == 405
    methods, after = _other_405s(client)
    assert after - before == 3
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}, methods


# --- all of it against the real server ---------------------------------------------------------

@pytest.fixture(scope="module")
def metered_server(tmp_path_factory):
    with migrated_database("sqlite", tmp_path_factory.mktemp("crafted")) as url:
        with LiveServer(url, workers=4, METRICS_TOKEN="secret-token") as server:
            yield server


def _raw(server, request):
    """Send ``request`` (bytes) on its own connection; the status code answered, or None."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]) if answer else None


@pytest.mark.slow
def test_the_live_server_answers_crafted_requests_with_4xx_and_bounded_metrics(metered_server):
    server = metered_server
    admin = server.token("boss", admin=True)
    for host in BAD_HOSTS:
        for path in ("/", "/login", "/api/health"):
            request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            status = _raw(server, request.encode())
            assert status == 400, (host, path, status)
    assert requests.get(server.base + "/api/export/ledger.csv?until=9999-12-31", headers=admin,
                        timeout=10).status_code == 422
    for _ in range(50):
        method = "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(200))
        status = _raw(server, f"{method} /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                      .encode())
        assert status is None or 400 <= status < 500, status
    text = requests.get(server.base + "/metrics", headers={"Authorization": "Bearer secret-token"},
                        timeout=10).text
    methods = {line.split('method="')[1].split('"')[0] for line in text.splitlines() if 'method="' in line}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}, methods
    assert 'method="other"' in text
    assert len(text) < 200_000
    assert "Traceback" not in server.log_text() and "unhandled error" not in server.log_text()
