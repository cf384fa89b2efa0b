"""Housekeeping CLI (purge-tokens, backup) and the /metrics endpoint in-process."""
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, update

from sweetshop import create_app
from sweetshop.extensions import db
from sweetshop.models import ApiToken, utcnow


def token_count(app):
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(ApiToken))
        db.session.rollback()
        return count


def test_purge_tokens_deletes_only_expired_ones(app, client, api, runner):
    api.user("alice")
    live = api.user("bob")
    api.user("carol")
    with app.app_context():
        db.session.execute(update(ApiToken).where(ApiToken.id.in_([1, 3]))
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    result = runner.invoke(args=["purge-tokens"])
    assert result.exit_code == 0 and result.output.strip() == "Deleted 2 expired tokens."
    assert token_count(app) == 1
    assert client.get("/api/auth/me", headers=live).status_code == 200
    assert runner.invoke(args=["purge-tokens"]).output.strip() == "Deleted 0 expired tokens."


def test_backup_copies_sqlite_and_refuses_postgresql(app, api, runner, backend, tmp_path):
    api.sweet("Fudge", quantity=4)
    copy = tmp_path / "backup.sqlite"
    result = runner.invoke(args=["backup", str(copy)])
    if backend == "postgresql":
        assert result.exit_code == 2 and "pg_dump -Fc" in result.output and not copy.exists()
        return
    assert result.exit_code == 0, result.output
    with sqlite3.connect(copy) as connection:
        assert connection.execute("SELECT name, quantity FROM sweets").fetchall() == [("Fudge", 4)]
    again = runner.invoke(args=["backup", str(copy)])
    assert again.exit_code == 2 and "never overwrites" in again.output


def metric(client, token, name, **labels):
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return 0


def test_metrics_need_the_configured_token(app, client):
    assert client.get("/metrics").status_code == 404  # no token configured: no answer
    assert client.get("/metrics", headers={"Authorization": "Bearer x"}).status_code == 404
    app.config["METRICS_TOKEN"] = "secret-token"
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer secret-token"}).status_code == 200


def test_metrics_count_requests_sales_refusals_and_throttling(app, client, api):
    app.config["METRICS_TOKEN"] = token = "secret-token"
    sweet = api.sweet(quantity=3)["id"]
    buyer = api.user("carol")
    labels = {"endpoint": "api.get_sweet", "method": "GET", "status": "200"}
    before = {name: metric(client, token, name) for name in (
        "sweetshop_units_sold_total", "sweetshop_purchases_refused_for_stock_total",
        "sweetshop_logins_throttled_total")}
    requests_before = metric(client, token, "sweetshop_http_requests_total", **labels)
    for _ in range(3):
        client.get(f"/api/sweets/{sweet}")
    assert metric(client, token, "sweetshop_http_requests_total", **labels) == requests_before + 3
    client.post(f"/api/sweets/{sweet}/purchase", headers=buyer, json={"quantity": 2})
    client.post(f"/api/sweets/{sweet}/purchase", headers=buyer, json={"quantity": 2})
    assert metric(client, token, "sweetshop_units_sold_total") == before["sweetshop_units_sold_total"] + 2
    assert metric(client, token, "sweetshop_purchases_refused_for_stock_total") == \
        before["sweetshop_purchases_refused_for_stock_total"] + 1
    for _ in range(7):
        client.post("/api/auth/login", data={"username": "carol", "password": "wrong password"})
    throttled = metric(client, token, "sweetshop_logins_throttled_total")
    assert throttled > before["sweetshop_logins_throttled_total"]
    # Answered scrapes are not counted as traffic (refused ones are: someone is probing).
    assert metric(client, token, "sweetshop_http_requests_total", endpoint="metrics", status="200") == 0


def test_metrics_count_database_unavailable_answers():
    app = create_app({"TESTING": True, "SECRET_KEY": "testing", "METRICS_TOKEN": "secret-token",
                      "SQLALCHEMY_DATABASE_URI": "postgresql://nobody@127.0.0.1:1/nothing"})
    client = app.test_client()
    before = metric(client, "secret-token", "sweetshop_database_unavailable_total")
    assert client.get("/api/health").status_code == 503       # the health check's own answer
    assert client.get("/api/sweets").status_code == 503       # the error handler's
    assert metric(client, "secret-token", "sweetshop_database_unavailable_total") == before + 2


@pytest.mark.slow
def test_the_server_prepares_the_metrics_directory_before_prometheus_client_is_imported(tmp_path):
    """sweetshop/serve.py: importing the shop does not import prometheus_client (it picks its
    multiprocess mode at import); an unset PROMETHEUS_MULTIPROC_DIR gets a fresh directory, a set
    one is emptied of prometheus_client's files only."""
    given = tmp_path / "given"
    given.mkdir()
    (given / "counter_1.db").write_bytes(b"stale")
    (given / "notes.txt").write_text("keep")
    script = (
        "import os, sys\n"
        "from sweetshop import create_app, serve\n"
        "create_app()\n"
        "assert 'prometheus_client' not in sys.modules\n"
        "path, made = serve.metrics_directory(os.environ)\n"
        "assert os.environ['PROMETHEUS_MULTIPROC_DIR'] == path and os.path.isdir(path)\n"
        "print(path, made, sorted(os.listdir(path)))\n")
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(SWEETSHOP_CONFIG="testing", DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    fresh = subprocess.run([sys.executable, "-c", script], env=env, cwd=root, capture_output=True,
                           text=True, timeout=60)
    assert fresh.returncode == 0, fresh.stderr
    path, made, files = fresh.stdout.split(" ", 2)
    assert made == "True" and files.strip() == "[]"
    shutil.rmtree(path)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(given)
    kept = subprocess.run([sys.executable, "-c", script], env=env, cwd=root, capture_output=True,
                          text=True, timeout=60)
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout.split(" ", 2)[1:] == ["False", "['notes.txt']\n"]


@pytest.mark.slow
def test_a_workers_threads_counting_their_first_requests_at_once_all_succeed():
    """With WEB_THREADS > 1 a worker's threads may make the metrics at the same moment; made twice,
    they would be registered twice and the second registration would raise (the bench's network
    scenario answered committed sales 500 that way). A fresh process: the metrics are per process."""
    script = (
        "import threading\n"
        "from sweetshop import metrics\n"
        "start, errors = threading.Barrier(8), []\n"
        "def count():\n"
        "    start.wait()\n"
        "    try:\n"
        "        metrics.record_units_sold(1)\n"
        "    except Exception as error:\n"
        "        errors.append(repr(error))\n"
        "threads = [threading.Thread(target=count) for _ in range(8)]\n"
        "[thread.start() for thread in threads]\n"
        "[thread.join() for thread in threads]\n"
        "print(len(errors), metrics._metrics().units_sold._value.get(), errors[:1])\n")
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=root, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(" ", 2)[:2] == ["0", "8.0"], result.stdout
