"""One CSV import preview confirmed by many requests at once, on the real multi-worker server and on both
databases: the receipt's unique token lets exactly one of them apply it."""
import re

import pytest
import requests

from support.harness import TEST_PASSWORD
from support.live import new_sweet, run_together

pytestmark = pytest.mark.slow
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def admin_session(shop):
    """A browser-like session of the admin ``boss``, logged in through the login form."""
    session = requests.Session()
    token = CSRF_RE.search(session.get(shop.base + "/login", timeout=60).text).group(1)
    response = session.post(shop.base + "/login", timeout=60, allow_redirects=False,
                            data={"username": "boss", "password": TEST_PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.text
    return session


def test_racing_confirms_of_one_preview_apply_it_once(live_shop):
    shop = live_shop
    sweet_id = new_sweet(shop, 56, category="Once")
    (name,) = shop.sql("SELECT name FROM sweets WHERE id = :id", id=sweet_id)[0]
    session = admin_session(shop)
    token = CSRF_RE.search(session.get(shop.base + "/admin/data", timeout=60).text).group(1)
    delivery = f"name,category,price,restock\n{name},Once,1.25,3\n"
    preview = session.post(shop.base + "/admin/import", timeout=60, data={"csrf_token": token},
                           files={"file": ("delivery.csv", delivery)})
    assert preview.status_code == 200, preview.text
    form = preview.text[preview.text.index('class="confirm-import"'):]
    fields = dict(re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', form[:form.index("</form>")]))
    assert {"csrf_token", "content", "token", "digest"} <= set(fields)

    def confirm():
        return requests.post(shop.base + "/admin/import/confirm", data=fields, cookies=session.cookies,
                             timeout=60, allow_redirects=False).status_code

    statuses = run_together([confirm] * 12, clients=12)
    assert sorted(statuses) == [302] + [409] * 11, statuses
    assert shop.sql("SELECT quantity FROM sweets WHERE id = :id", id=sweet_id) == [(59,)]
    assert shop.sql("SELECT kind, change FROM stock_movements WHERE sweet_id = :id ORDER BY id",
                    id=sweet_id) == [("initial", 56), ("restock", 3)]
    assert shop.sql("SELECT count(*) FROM import_receipts WHERE token = :t", t=fields["token"]) == [(1,)]
