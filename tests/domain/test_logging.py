"""Structured logs: one JSON line per request (its stock changes on it); never a password or token."""
import json
import os

import pytest
import requests

from support.harness import LiveServer, migrated_database

# Log lines are the same on every database: the in-process ones run on SQLite only.
pytestmark = pytest.mark.databases("sqlite")


def log_lines(capsys):
    lines = []
    for line in capsys.readouterr().err.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def request_lines(lines):
    return [line for line in lines if line["logger"] == "sweetshop.request"]


def test_one_line_per_request_with_the_fields_an_operator_needs(api, client, capsys):
    headers = api.user("alice")
    capsys.readouterr()
    response = client.get("/api/auth/me", headers={**headers, "X-Request-ID": "lb-1234.abc"})
    assert response.headers["X-Request-ID"] == "lb-1234.abc"
    [line] = request_lines(log_lines(capsys))
    assert line["request_id"] == "lb-1234.abc"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/api/auth/me", 200)
    assert line["user_id"] == response.json["id"]
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["level"] == "INFO" and line["time"].endswith("+00:00") and line["pid"] == os.getpid()


@pytest.mark.parametrize("given", [None, "", "x" * 129, "two words", "evil\u00e9", "a;b"])
def test_a_request_id_is_made_up_when_missing_or_not_a_sane_token(client, capsys, given):
    headers = {} if given is None else {"X-Request-ID": given}
    response = client.get("/api/sweets?skip=-1", headers=headers)
    made_up = response.headers["X-Request-ID"]
    assert made_up != given and len(made_up) == 32
    [line] = request_lines(log_lines(capsys))
    assert line["request_id"] == made_up
    assert (line["status"], line["user_id"], line["path"]) == (422, None, "/api/sweets")


def test_errors_and_unknown_routes_are_logged_too(client, capsys):
    client.get("/api/nowhere")
    client.delete("/api/sweets")
    client.get("/no-such-page")
    statuses = [(line["path"], line["status"]) for line in request_lines(log_lines(capsys))]
    assert statuses == [("/api/nowhere", 404), ("/api/sweets", 405), ("/no-such-page", 404)]


def test_each_stock_change_rides_on_its_request_line_with_sweet_change_and_balance(api, client, capsys):
    sweet = api.sweet(quantity=10)
    buyer = api.user("bob")
    capsys.readouterr()
    response = client.post(f"/api/sweets/{sweet['id']}/purchase", headers=buyer, json={"quantity": 3})
    assert response.status_code == 200
    client.post(f"/api/sweets/{sweet['id']}/restock", headers=api.admin, json={"quantity": 5})
    # A failed purchase changes nothing, so its line carries no stock change.
    client.post(f"/api/sweets/{sweet['id']}/purchase", headers=buyer, json={"quantity": 99})
    lines = log_lines(capsys)
    assert request_lines(lines) == lines  # one line per request, none besides
    purchase, restock, refused = lines
    assert purchase["path"].endswith("/purchase") and purchase["user_id"] is not None
    assert purchase["stock_changes"] == [
        {"sweet_id": sweet["id"], "kind": "purchase", "change": -3, "balance": 7}]
    assert restock["stock_changes"] == [
        {"sweet_id": sweet["id"], "kind": "restock", "change": 5, "balance": 12}]
    assert refused["status"] == 400 and "stock_changes" not in refused


def test_a_stock_change_outside_a_request_is_a_line_of_its_own(app, capsys):
    from sweetshop import catalog, inventory
    with app.app_context():
        sweet_id = catalog.create_sweet("Toffee", "Toffee", 1, quantity=4).id
        inventory.restock(sweet_id, None, 2)
    changes = [line for line in log_lines(capsys) if line["logger"] == "sweetshop.stock"]
    assert [(c["sweet_id"], c["kind"], c["change"], c["balance"]) for c in changes] == [
        (sweet_id, "initial", 4, 4), (sweet_id, "restock", 2, 6)]


@pytest.mark.slow
def test_no_password_or_token_ever_reaches_the_server_log(tmp_path):
    """Everything the real server writes (its own lines, ours, any traceback) is searched."""
    password = "Sup3r-s3cret-passw0rd"
    with migrated_database("sqlite", tmp_path) as url:
        server = LiveServer(url, workers=1)
        try:
            base = server.base
            assert requests.post(base + "/api/auth/register", timeout=30, json={
                "username": "victim", "password": password}).status_code == 201
            token = requests.post(base + "/api/auth/login", timeout=30, data={
                "username": "victim", "password": password}).json()["access_token"]
            bearer = {"Authorization": f"Bearer {token}"}
            requests.post(base + "/api/auth/login", timeout=30,
                          json={"username": "victim", "password": password + "x"})
            requests.post(base + "/api/auth/register", timeout=30,
                          json={"username": "v", "password": password})  # invalid: 422
            requests.get(base + "/api/auth/me", headers=bearer, timeout=30)
            requests.get(base + f"/api/auth/me?access_token={token}", timeout=30)
            requests.post(base + "/api/sweets/1/purchase", headers=bearer, data="{not json",
                          timeout=30)
            requests.post(base + "/api/auth/logout", headers=bearer, timeout=30)
            requests.get(base + "/api/auth/me", headers=bearer, timeout=30)
            log = server.log_text()
        finally:
            server.stop()
            os.unlink(server.log.name)
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    # Our nine, after the start-up health probes (more than one when a busy host boots the
    # worker slower than the probe's 1 s timeout: each timed-out probe is still served and logged).
    logged = request_lines(lines)
    assert len([line for line in logged if line["path"] != "/api/health"]) == 9
    assert logged[0]["path"] == "/api/health"
    assert password not in log
    assert token not in log
    assert "access_token" not in log
