"""Pages about addresses: registering with one, changing and confirming it at /account, the
forgotten-password pages, and the admin outbox page."""
import re

import pytest
from sqlalchemy import select

from support.harness import TEST_PASSWORD
from support.pages import Pages, field_error, flashes
from sweetshop.extensions import db
from sweetshop.models import OutboxMail, User

LINK = re.compile(r"https://shop\.example(/[\w/.-]+)")


@pytest.fixture
def pages(app, client):
    app.config["PUBLIC_URL"] = "https://shop.example"
    return Pages(client)


def newest_link(app, to):
    with app.app_context():
        text = db.session.scalars(select(OutboxMail.text).where(OutboxMail.to == to)
                                  .order_by(OutboxMail.id.desc())).first()
    return LINK.search(text).group(1)


def user(app, username):
    with app.app_context():
        found = db.session.scalar(select(User).where(User.username == username))
        db.session.expunge_all()
        return found


def test_register_with_an_address_then_confirm_it_from_the_mailed_link(app, pages):
    assert pages.register("carol", email="carol@example.com").status_code == 302
    path = newest_link(app, "carol@example.com")
    assert path.startswith("/account/verify/")
    assert pages.client.get(path).status_code == 200 and not user(app, "carol").email_verified
    confirmed = pages.post(path, follow_redirects=True)
    assert ("success", "Thank you: carol@example.com is confirmed.") in flashes(confirmed)
    assert user(app, "carol").email_verified
    again = pages.post(path, follow_redirects=True)
    assert flashes(again)[0][0] == "error"


def test_a_taken_address_is_refused_next_to_its_field(pages):
    pages.register("dave", email="dave@example.com")
    response = pages.register("dave2", email="Dave@Example.com")
    assert response.status_code == 422
    assert field_error(response, "email") == "Email already registered"


def test_change_the_address_at_account_with_the_current_password(app, pages):
    pages.customer("erin")
    wrong = pages.post("/account/email", {"email": "erin@example.com", "email_password": "wrong"})
    assert wrong.status_code == 422 and user(app, "erin").email is None
    done = pages.post("/account/email", {"email": "erin@example.com", "email_password": TEST_PASSWORD},
                      follow_redirects=True)
    assert "We sent a link to erin@example.com" in flashes(done)[0][1]
    assert "not confirmed yet" in pages.client.get("/account").text
    assert newest_link(app, "erin@example.com").startswith("/account/verify/")


def test_forgot_password_from_login_to_a_new_password(app, pages):
    assert 'href="/password/forgot"' in pages.client.get("/login").text
    pages.register("fred", email="fred@example.com")
    for given in ("fred", "nobody"):
        answer = pages.post("/password/forgot", {"account": given}, follow_redirects=True)
        assert ("info", "If that account exists and has an email address, a link is on its way."
                ) in flashes(answer)
    path = newest_link(app, "fred@example.com")
    assert path.startswith("/password/reset/") and pages.client.get(path).status_code == 200
    mismatch = pages.post(path, {"password": "new horse 22", "confirm": "new horse 23"})
    assert mismatch.status_code == 422
    done = pages.post(path, {"password": "new horse 22", "confirm": "new horse 22"})
    assert done.status_code == 302
    assert pages.login("fred", "new horse 22").status_code == 302
    assert user(app, "fred").email_verified  # the link proved the address
    assert pages.post(path, {"password": "other horse 3", "confirm": "other horse 3"}).status_code == 302
    assert pages.login("fred", "other horse 3").status_code != 302


def test_the_admin_outbox_page_lists_mails_and_sends_a_failed_one_again(app, pages):
    pages.register("gail", email="gail@example.com")
    with app.app_context():
        mail = db.session.scalar(select(OutboxMail))
        mail.status, mail.last_error = OutboxMail.FAILED, "550 No such <mailbox>"
        db.session.commit()
        mail_id = mail.id
    pages.admin()
    page = pages.client.get("/admin/outbox?status=failed")
    assert "gail@example.com" in page.text and "550 No such &lt;mailbox&gt;" in page.text
    assert "Please confirm your email address" in page.text and "Send again" in page.text
    pages.post(f"/admin/outbox/{mail_id}/retry")
    assert "Send again" not in pages.client.get("/admin/outbox").text
    assert pages.client.get("/admin/outbox?status=pending").text.count("gail@example.com") == 1
