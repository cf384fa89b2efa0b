"""The outbox's guarantees on the real multi-worker server, with its own mail sender beside it and
a real SMTP server, on SQLite and PostgreSQL: every committed mail leaves exactly once among live
senders, none is lost when a sender dies or the mail server is down, a refused order sends
nothing, and racing buyers across the low-stock line make one mail."""
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from support.shop import require_backend
from support.harness import ROOT, TEST_PASSWORD, LiveServer, migrated_database
from support.mailserver import MailServer

pytestmark = pytest.mark.slow
LINK = re.compile(r"https://shop\.example/account/verify/([\w-]+)")


@pytest.fixture(scope="module")
def smtp():
    server = MailServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def live_server(request, tmp_path_factory, smtp):
    """This module's server: the shop's production server with mail settings, so that
    ``python -m sweetshop.serve`` runs its one sender beside the workers."""
    require_backend(request.param)
    with migrated_database(request.param, tmp_path_factory.mktemp("live")) as url:
        with LiveServer(url, workers=4, MAIL_LEASE_SECONDS=3, MAIL_RETRY_MAX_SECONDS=1,
                        MAIL_POLL_SECONDS=0.2, MAIL_TIMEOUT_SECONDS=5, **smtp.settings()) as server:
            server.backend = request.param
            server.database_url = url
            yield server


def verified_user(live, smtp, username, admin=False):
    """Register ``username`` with an address, verify it from the mail the server's sender
    delivered; returns bearer headers."""
    address = f"{username}@example.com"
    response = requests.post(live.base + "/api/auth/register", timeout=30, json={
        "username": username, "password": TEST_PASSWORD, "email": address})
    assert response.status_code == 201, response.text
    deadline = time.monotonic() + 30
    while not smtp.inbox.to(address) and time.monotonic() < deadline:
        time.sleep(0.1)
    token = LINK.search(smtp.inbox.to(address)[-1].get_body(("plain",)).get_content()).group(1)
    assert requests.post(live.base + "/api/auth/verify-email", json={"token": token}, timeout=30).ok
    return live.token(username, admin=admin)


def extra_sender(live):
    """A second sender, ``flask send-mail``, as another host would run one."""
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "sweetshop", "send-mail"],
                            cwd=ROOT, env=live.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def order_mails(smtp, address):
    return [m for m in smtp.inbox.to(address) if "Your order" in str(m["Subject"])]


def wait_until(check, seconds=60):
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.2)
    return check()


def place(live, headers, sweet_id, quantity=1):
    return requests.post(live.base + "/api/orders", headers=headers, timeout=60,
                         json={"items": [{"sweet_id": sweet_id, "quantity": quantity}]})


def sweet(live, name, quantity):
    response = requests.post(live.base + "/api/sweets", headers=live.admin, timeout=30, json={
        "name": name, "category": "Test", "price": 1.5, "quantity": quantity})
    assert response.status_code == 201
    return response.json()["id"]


@pytest.fixture(scope="module")
def customer(live_shop, smtp):
    return verified_user(live_shop, smtp, f"cust_{live_shop.backend}")


def test_two_senders_and_30_orders_give_30_mails_exactly_once(live_shop, smtp, customer):
    address = f"cust_{live_shop.backend}@example.com"
    fudge = sweet(live_shop, "Fudge", 1000)
    second = extra_sender(live_shop)
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: place(live_shop, customer, fudge), range(30)))
        assert [a.status_code for a in answers] == [201] * 30
        assert wait_until(lambda: len(order_mails(smtp, address)) >= 30)
        time.sleep(2)  # a duplicate, were there one, would arrive now
    finally:
        second.terminate()
        second.wait(timeout=60)
    subjects = sorted(str(m["Subject"]) for m in order_mails(smtp, address))
    assert subjects == sorted(f"Your order {a.json()['id']} is placed" for a in answers)
    ids = {m["Message-ID"].strip() for m in order_mails(smtp, address)}
    assert len(ids) == 30
    stored = live_shop.sql(
        "SELECT status, count(*) FROM outbox WHERE subject LIKE 'Your order%' GROUP BY status")
    assert [tuple(row) for row in stored] == [("sent", 30)]


def test_a_sender_killed_mid_send_loses_no_mail_and_a_repeat_keeps_its_message_id(live_shop, smtp, customer):
    address = f"cust_{live_shop.backend}@example.com"
    before = len(order_mails(smtp, address))
    toffee = sweet(live_shop, "Toffee", 1000)
    smtp.inbox.hold_seconds = 0.5  # a slow mail server: senders spend their time mid-send
    doomed = extra_sender(live_shop)
    try:
        # Enough mails (at 0.5 s each) that both senders are busy by the time the extra one is up.
        answers = [place(live_shop, customer, toffee) for _ in range(20)]
        assert all(a.status_code == 201 for a in answers)
        # Wait until both senders hold a claim, then kill the extra one outright.
        assert wait_until(lambda: live_shop.sql(
            "SELECT count(DISTINCT claimed_by) FROM outbox WHERE status = 'sending'")[0][0] >= 2, 30)
        os.kill(doomed.pid, signal.SIGKILL)
    finally:
        smtp.inbox.hold_seconds = 0
        if doomed.poll() is None:
            doomed.kill()
        doomed.wait()
    expected = {f"Your order {a.json()['id']} is placed" for a in answers}
    assert wait_until(lambda: expected <= {str(m["Subject"]) for m in order_mails(smtp, address)[before:]})
    assert wait_until(lambda: live_shop.sql(
        "SELECT count(*) FROM outbox WHERE status <> 'sent'")[0][0] == 0)
    stored = dict(live_shop.sql("SELECT subject, message_id FROM outbox WHERE subject LIKE 'Your order%'"))
    for message in order_mails(smtp, address)[before:]:
        assert message["Message-ID"].strip() == stored[str(message["Subject"])]  # a repeat is recognisable


def test_mail_server_down_then_up_delivers_everything_and_sales_do_not_wait(live_shop, smtp, customer):
    address = f"cust_{live_shop.backend}@example.com"
    before = len(order_mails(smtp, address))
    mints = sweet(live_shop, "Mints", 1000)
    smtp.stop()
    try:
        started = time.monotonic()
        answers = [place(live_shop, customer, mints) for _ in range(5)]
        assert all(a.status_code == 201 for a in answers)
        assert time.monotonic() - started < 10
        assert wait_until(lambda: live_shop.sql(
            "SELECT count(*) FROM outbox WHERE attempts > 0 AND status = 'pending'")[0][0] >= 1, 30)
    finally:
        smtp.start()
    expected = {f"Your order {a.json()['id']} is placed" for a in answers}
    assert wait_until(lambda: expected <= {str(m["Subject"]) for m in order_mails(smtp, address)[before:]})


def test_a_refused_order_sends_nothing(live_shop, smtp, customer):
    rare = sweet(live_shop, "Rare", 1)
    count = live_shop.sql("SELECT count(*) FROM outbox")[0][0]
    assert place(live_shop, customer, rare, quantity=2).status_code == 400
    time.sleep(1)
    assert live_shop.sql("SELECT count(*) FROM outbox")[0][0] == count


def test_50_racing_buyers_across_the_line_make_exactly_one_low_stock_mail(live_shop, smtp):
    verified_user(live_shop, smtp, f"chief_{live_shop.backend}", admin=True)
    gums = sweet(live_shop, "Gums", 30)
    buyers = live_shop.buyers

    def buy(index):
        return requests.post(f"{live_shop.base}/api/sweets/{gums}/purchase",
                             headers=buyers[index % len(buyers)], timeout=60).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(buy, range(50)))
    assert codes.count(200) == 30 and codes.count(400) == 20
    low = live_shop.sql("SELECT \"to\", subject FROM outbox WHERE subject LIKE 'Low stock: Gums%'")
    assert [tuple(row) for row in low] == [(f"chief_{live_shop.backend}@example.com",
                                            "Low stock: Gums (5 left)")]
    chief = f"chief_{live_shop.backend}@example.com"  # the SMTP server serves both backends' runs
    assert wait_until(
        lambda: len([m for m in smtp.inbox.to(chief) if "Low stock: Gums" in str(m["Subject"])]) == 1)
