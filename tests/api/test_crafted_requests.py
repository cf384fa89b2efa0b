"""Crafted requests (issue 11, item 4): query keys that ``url_for`` reserves, a forged ``Host``, a
price with an absurd exponent and malformed chunked bodies all get an answer, never a 500."""
import socket

import pytest
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
    from sweetshop import accounts, inventory
    app.config["ORDERS_PAGE_SIZE"] = 1
    sweet_id = pages.sweet()
    pages.customer()
    with app.app_context():
        carol = accounts.find_user("carol").id
        for _ in range(3):
            inventory.place_order(carol, [(sweet_id, 1)])
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
