"""Mail: addresses and their verification, password reset, order and low-stock mails, and the
outbox's sender against a real SMTP server (aiosmtpd; STARTTLS with a self-signed certificate and
AUTH), on SQLite and PostgreSQL."""
import re
import time

import pytest
from sqlalchemy import select, update

from support.mailserver import MailServer, self_signed_certificate
from sweetshop import mail, outbox
from sweetshop.extensions import db
from sweetshop.models import OutboxMail, User
from sweetshop.orders import get_order

FORGED = {"Host": "evil.example"}
LINK = re.compile(r"https://shop\.example/[\w/.-]+")


@pytest.fixture(autouse=True)
def public_url(app):
    app.config["PUBLIC_URL"] = "https://shop.example"


@pytest.fixture
def smtp():
    server = MailServer()
    yield server
    server.stop()


@pytest.fixture
def mailing(app, smtp):
    app.config.update(smtp.settings())
    return smtp


def rows(app, **where):
    with app.app_context():
        query = select(OutboxMail).order_by(OutboxMail.id)
        for name, value in where.items():
            query = query.where(getattr(OutboxMail, name) == value)
        found = db.session.scalars(query).all()
        db.session.expunge_all()
        return found


def send(app):
    with app.app_context():
        return outbox.send_due()


def link_in(app, to, kind):
    """The newest link of ``kind`` ("verify", "reset") mailed to ``to``, and its token."""
    mails = [m for m in rows(app, to=to) if f"/{kind}" in m.text or f"/{kind}/" in m.text]
    url = LINK.search(mails[-1].text).group(0)
    return url, url.rsplit("/", 1)[1]


def register(client, username, email, headers=None):
    response = client.post("/api/auth/register", headers=headers or {},
                           json={"username": username, "password": "correct horse 1", "email": email})
    assert response.status_code == 201, response.json
    return response.json


def verified(app, client, username, email):
    register(client, username, email, FORGED)
    _, token = link_in(app, email, "verify")
    response = client.post("/api/auth/verify-email", json={"token": token})
    assert response.status_code == 200 and response.json["email_verified"] is True
    return response.json


def test_registration_mails_a_verification_link_from_public_url_never_the_host(app, client, api):
    app.config["PUBLIC_URL"] = "https://shop.example"
    user = register(client, "carol", "Carol@Example.com", FORGED)
    assert user["email"] == "Carol@Example.com" and user["email_verified"] is False
    url, token = link_in(app, "Carol@Example.com", "verify")
    assert url.startswith("https://shop.example/account/verify/")
    assert "evil.example" not in rows(app)[0].text + rows(app)[0].html
    assert client.post("/api/auth/verify-email", json={"token": token + "x"}).status_code == 400
    assert client.post("/api/auth/verify-email", json={"token": token}).json["email_verified"] is True
    again = client.post("/api/auth/verify-email", json={"token": token})
    assert again.status_code == 400 and again.json["detail"] == "Invalid or expired link"
    me = client.get("/api/auth/me", headers=api.login("carol"))
    assert me.json["email"] == "Carol@Example.com" and me.json["email_verified"] is True


def test_an_address_belongs_to_one_account_in_any_case(client):
    register(client, "dave", "dave@example.com")
    response = client.post("/api/auth/register", json={"username": "dave2", "password": "correct horse 1",
                                                       "email": "DAVE@example.COM"})
    assert response.status_code == 400 and response.json["detail"] == "Email already registered"
    bad = client.post("/api/auth/register", json={"username": "eve", "password": "correct horse 1",
                                                  "email": "eve@example.com\r\nBcc: all@example.com"})
    assert bad.status_code == 422 and "email" in bad.json["errors"]


def test_changing_the_address_needs_the_password_and_unverifies_it(app, client, api):
    app.config["PUBLIC_URL"] = "https://shop.example"
    verified(app, client, "fay", "fay@example.com")
    register(client, "gus", "gus@example.com")
    headers = api.login("fay")
    wrong = client.put("/api/auth/me/email", headers=headers,
                       json={"email": "f@example.com", "password": "nope"})
    assert wrong.status_code == 403
    taken = client.put("/api/auth/me/email", headers=headers,
                       json={"email": "GUS@example.com", "password": "correct horse 1"})
    assert taken.status_code == 400 and taken.json["detail"] == "Email already registered"
    _, old_token = link_in(app, "fay@example.com", "verify")
    changed = client.put("/api/auth/me/email", headers=headers,
                         json={"email": "fay@new.example", "password": "correct horse 1"})
    assert changed.status_code == 200
    assert changed.json["email"] == "fay@new.example" and changed.json["email_verified"] is False
    assert client.post("/api/auth/verify-email", json={"token": old_token}).status_code == 400
    _, token = link_in(app, "fay@new.example", "verify")
    assert client.post("/api/auth/verify-email", json={"token": token}).json["email_verified"] is True


def test_password_reset_answers_alike_and_mails_a_single_use_link(app, client, api):
    app.config["PUBLIC_URL"] = "https://shop.example"
    verified(app, client, "hal", "hal@example.com")
    headers = api.login("hal")
    answers = [client.post("/api/auth/password-reset", json=body, headers=FORGED)
               for body in ({"username": "hal"}, {"username": "nobody"}, {"email": "none@example.com"})]
    assert {(a.status_code, a.json["detail"]) for a in answers} == {
        (202, "If that account exists and has an email address, a link is on its way.")}
    resets = [m for m in rows(app) if m.subject == "Reset your password"]
    assert [m.to for m in resets] == ["hal@example.com"]
    url, token = link_in(app, "hal@example.com", "password/reset")
    assert url.startswith("https://shop.example/password/reset/") and "evil" not in resets[0].html

    weak = client.post("/api/auth/password-reset/confirm", json={"token": token, "password": "short"})
    assert weak.status_code == 422
    done = client.post("/api/auth/password-reset/confirm", json={"token": token, "password": "new horse 22"})
    assert done.status_code == 200
    assert client.get("/api/auth/me", headers=headers).status_code == 401  # every token ended
    assert client.post("/api/auth/password-reset/confirm",
                       json={"token": token, "password": "other horse 3"}).status_code == 400
    assert api.login("hal", "new horse 22")
    assert rows(app)[-1].subject == "Your password was changed"


def test_a_reset_link_dies_with_a_newer_link_and_with_any_password_change(app, client, api):
    verified(app, client, "ivy", "ivy@example.com")
    client.post("/api/auth/password-reset", json={"email": "IVY@example.com"})
    _, first = link_in(app, "ivy@example.com", "password/reset")
    client.post("/api/auth/password-reset", json={"username": "ivy"})
    _, second = link_in(app, "ivy@example.com", "password/reset")
    assert first != second
    assert client.post("/api/auth/password-reset/confirm",
                       json={"token": first, "password": "new horse 22"}).status_code == 400
    runner = app.test_cli_runner()
    result = runner.invoke(args=["set-password", "ivy", "--password-stdin"], input="operator horse 9\n")
    assert result.exit_code == 0, result.output
    assert client.post("/api/auth/password-reset/confirm",
                       json={"token": second, "password": "new horse 22"}).status_code == 400
    assert api.login("ivy", "operator horse 9")


def test_password_reset_is_throttled_per_account(app, client):
    app.config["PASSWORD_RESET_LIMIT_PER_ACCOUNT"] = "2 per hour"
    answers = [client.post("/api/auth/password-reset", json={"username": "jo"}).status_code for _ in range(3)]
    assert answers == [202, 202, 429]
    assert client.post("/api/auth/password-reset", json={"username": "other"}).status_code == 202


def test_password_reset_takes_about_as_long_for_an_unknown_account(app, client):
    verified(app, client, "kim", "kim@example.com")
    app.config.update(PASSWORD_RESET_LIMIT_PER_ACCOUNT="1000 per hour",
                      PASSWORD_RESET_LIMIT_PER_ADDRESS="1000 per hour")

    def median(body):
        times = []
        for _ in range(15):
            start = time.perf_counter()
            assert client.post("/api/auth/password-reset", json=body).status_code == 202
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    known, unknown = median({"username": "kim"}), median({"username": "nobody"})
    assert abs(known - unknown) < 0.05, (known, unknown)


def order(client, headers, *items):
    return client.post("/api/orders", headers=headers,
                       json={"items": [{"sweet_id": s, "quantity": q} for s, q in items]})


def test_order_mails_go_to_verified_addresses_only_and_escape_what_users_typed(app, client, api):
    fudge = api.sweet(name="<b>Fudge</b> & co", quantity=10)
    verified(app, client, "lee", "lee@example.com")
    register(client, "max", "max@example.com")  # never verified
    lee, max_ = api.login("lee"), api.login("max")
    placed = order(client, lee, (fudge["id"], 2))
    assert placed.status_code == 201
    assert order(client, max_, (fudge["id"], 1)).status_code == 201
    assert order(client, lee, (fudge["id"], 100)).status_code == 400  # refused: no mail
    to_lee = [m for m in rows(app, to="lee@example.com") if "order" in m.subject]
    assert [m.subject for m in to_lee] == [f"Your order {placed.json['id']} is placed"]
    assert "&lt;b&gt;Fudge&lt;/b&gt; &amp; co" in to_lee[0].html and "<b>Fudge" not in to_lee[0].html
    assert "2 x <b>Fudge</b> & co" in to_lee[0].text and " each) = " in to_lee[0].text  # the unit
    assert [m.to for m in rows(app) if "order" in m.subject] == ["lee@example.com"]

    assert client.post(f"/api/orders/{placed.json['id']}/cancel", headers=api.admin).status_code == 200
    cancelled = rows(app, to="lee@example.com")[-1]
    assert cancelled.subject.endswith("is cancelled") and "cancelled by the shop" in cancelled.text
    with app.app_context():
        mail.queue_order_ready(get_order(placed.json["id"]))
        db.session.commit()
    ready = rows(app, to="lee@example.com")[-1]
    assert ready.subject == f"Your order {placed.json['id']} is ready for collection"
    assert f"/orders/{placed.json['id']}" in ready.text


def test_low_stock_is_mailed_once_per_crossing_from_the_sale_itself(app, client, api, mailing):
    app.config["LOW_STOCK_THRESHOLD"] = 5
    admin = verified(app, client, "boss", "boss@example.com")
    with app.app_context():
        db.session.execute(update(User).where(User.id == admin["id"]).values(is_admin=True))
        db.session.commit()
    register(client, "unverified_admin", "ua@example.com")
    sweet = api.sweet(name="Toffee <i>", quantity=8)
    buyer = api.user("buyer")
    for _ in range(2):  # 8 -> 7 -> 6: above the line
        client.post(f"/api/sweets/{sweet['id']}/purchase", headers=buyer)
    assert not [m for m in rows(app) if m.subject.startswith("Low stock")]
    client.post(f"/api/sweets/{sweet['id']}/purchase", headers=buyer, json={"quantity": 3})  # 6 -> 3
    client.post(f"/api/sweets/{sweet['id']}/purchase", headers=buyer)  # 3 -> 2: still below, no mail
    low = [m for m in rows(app) if m.subject.startswith("Low stock")]
    assert [(m.to, m.subject) for m in low] == [("boss@example.com", "Low stock: Toffee <i> (3 left)")]
    assert "Toffee &lt;i&gt;" in low[0].html and "<i>" not in low[0].html
    client.post(f"/api/sweets/{sweet['id']}/restock", headers=api.admin, json={"quantity": 10})  # 12
    assert order(client, buyer, (sweet["id"], 8)).status_code == 201  # an order's line crosses too
    low = [m for m in rows(app) if m.subject.startswith("Low stock")]
    assert [m.subject for m in low][1:] == ["Low stock: Toffee <i> (4 left)"]
    assert len({m.message_id for m in low}) == 2
    send(app)
    delivered = [m for m in mailing.inbox.messages if str(m["Subject"]).startswith("Low stock")]
    assert sorted(str(m["Subject"]) for m in delivered) == sorted(m.subject for m in low)


def test_the_sender_delivers_over_starttls_with_auth(app, client, tmp_path):
    server = MailServer(tls=self_signed_certificate(tmp_path))
    try:
        app.config.update(server.settings())
        register(client, "nia", "nia@example.com")
        assert send(app) == 1
        [message] = server.inbox.messages
        sent = rows(app)[0]
        assert sent.status == "sent" and sent.attempts == 1
        assert message["Message-ID"].strip() == sent.message_id and message["To"] == "nia@example.com"
        assert message["From"] == "Sweetshop <shop@example.com>"
        assert message.get_body(("plain",)).get_content().startswith("Hello nia")
        assert "<a href=\"https://shop.example/account/verify/" in message.get_body(("html",)).get_content()

        app.config.update(MAIL_PASSWORD="wrong", MAIL_TIMEOUT_SECONDS=3)
        register(client, "oli", "oli@example.com")
        assert send(app) == 1
        refused = rows(app)[-1]  # the server's set-up, not the mail: tried again later
        assert refused.status == "pending" and refused.last_error and len(server.inbox.messages) == 1
    finally:
        server.stop()


def test_a_permanent_refusal_fails_at_once_and_an_admin_can_send_it_again(app, client, api, mailing):
    mailing.inbox.answer = "550 No such mailbox"
    register(client, "pat", "pat@example.com")
    send(app)
    [failed] = rows(app)
    assert failed.status == "failed" and failed.attempts == 1 and failed.last_error.startswith("550")
    listed = client.get("/api/outbox?status=failed", headers=api.admin).json
    assert [m["id"] for m in listed] == [failed.id] and listed[0]["last_error"].startswith("550")
    assert client.get("/api/outbox?status=lost", headers=api.admin).status_code == 422
    assert client.get("/api/outbox", headers=api.user("cust")).status_code == 403
    mailing.inbox.answer = "250 OK"
    again = client.post(f"/api/outbox/{failed.id}/retry", headers=api.admin)
    assert again.status_code == 200 and again.json["status"] == "pending"
    assert client.post(f"/api/outbox/{failed.id}/retry", headers=api.admin).status_code == 409
    assert client.post("/api/outbox/999/retry", headers=api.admin).status_code == 404
    send(app)
    assert rows(app)[0].status == "sent" and len(mailing.inbox.messages) == 1


def test_a_temporary_refusal_backs_off_then_fails_after_the_last_attempt(app, client, mailing):
    app.config.update(MAIL_MAX_ATTEMPTS=3, MAIL_RETRY_MAX_SECONDS=0)
    mailing.inbox.answer = "451 Try again later"
    register(client, "quin", "quin@example.com")
    assert send(app) == 3  # due again at once (backoff capped at 0): three attempts, then failed
    [mail_row] = rows(app)
    assert mail_row.status == "failed" and mail_row.attempts == 3 and mail_row.last_error.startswith("451")
    assert outbox.backoff_seconds(1, 300) == 5 and outbox.backoff_seconds(4, 300) == 40
    assert outbox.backoff_seconds(9, 300) == 300


def test_a_dead_server_leaves_mails_pending(app, client, mailing):
    mailing.stop()
    register(client, "ray", "ray@example.com")
    send(app)
    [pending] = rows(app)
    assert pending.status == "pending" and pending.attempts == 1 and pending.last_error
    mailing.start()
    with app.app_context():  # its backoff is over
        db.session.execute(update(OutboxMail).values(next_attempt_at=OutboxMail.created_at))
        db.session.commit()
    send(app)
    assert rows(app)[0].status == "sent" and len(mailing.inbox.messages) == 1


def test_without_a_mail_server_mails_wait_and_the_sender_refuses_to_run(app, client, api):
    register(client, "sam", "sam@example.com")
    result = app.test_cli_runner().invoke(args=["send-mail", "--once"])
    assert result.exit_code == 1 and "MAIL_SERVER" in result.output
    assert rows(app)[0].status == "pending"
    page = client.get("/api/outbox", headers=api.admin).json
    assert page[0]["to"] == "sam@example.com" and page[0]["status"] == "pending"


def test_settings_refuse_a_mail_server_without_its_addresses(ctx):
    from sweetshop import create_app
    base = {"SECRET_KEY": "x", "MAIL_SERVER": "mail.example"}
    with pytest.raises(RuntimeError, match="MAIL_FROM"):
        create_app(base)
    with pytest.raises(RuntimeError, match="PUBLIC_URL"):
        create_app({**base, "MAIL_FROM": "shop@example.com", "CONFIG": "production"})
    with pytest.raises(RuntimeError, match="MAIL_SECURITY"):
        create_app({"SECRET_KEY": "x", "MAIL_SECURITY": "tls"})


def test_purge_tokens_also_deletes_used_and_expired_links(app, client):
    verified(app, client, "tom", "tom@example.com")  # its link is used
    register(client, "uma", "uma@example.com")  # its link is live
    assert app.test_cli_runner().invoke(args=["purge-tokens"]).exit_code == 0
    with app.app_context():
        from sweetshop.models import EmailToken
        left = db.session.scalars(select(EmailToken.email)).all()
    assert left == ["uma@example.com"]
