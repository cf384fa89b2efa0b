"""Helpers for the page tests: a test client that fills in CSRF tokens like a browser would."""
import html
import re
from decimal import Decimal

from conftest import TEST_PASSWORD
from sweetshop import accounts, catalog, inventory

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
FLASH_RE = re.compile(r'<p class="flash flash-(\w+)"[^>]*>(.*?)</p>', re.S)


class Pages:
    """Drive the pages through the Flask test client with CSRF protection switched on."""

    def __init__(self, client):
        self.client = client
        self.app = client.application
        self.app.config["WTF_CSRF_ENABLED"] = True

    def csrf(self):
        """A token for the current session, read from a page's form as a browser would."""
        match = CSRF_RE.search(self.client.get("/login").text)
        assert match, "no CSRF token on /login"
        return match.group(1)

    def post(self, path, data=None, csrf=True, **kwargs):
        data = dict(data or {})
        if csrf:
            data["csrf_token"] = self.csrf()
        return self.client.post(path, data=data, **kwargs)

    def register(self, username, password=TEST_PASSWORD, **extra):
        return self.post("/register", {"username": username, "password": password,
                                       "confirm": password, **extra})

    def login(self, username, password=TEST_PASSWORD, next=None):
        data = {"username": username, "password": password}
        if next is not None:
            data["next"] = next
        return self.post("/login", data)

    def customer(self, username="carol"):
        """Register and log in a customer."""
        assert self.register(username).status_code == 302
        assert self.login(username).status_code == 302

    def admin(self, username="boss"):
        """Create an admin (as the CLI would) and log in."""
        with self.app.app_context():
            accounts.register(username, TEST_PASSWORD, is_admin=True)
        assert self.login(username).status_code == 302

    def sweet(self, name="Fudge", category="Fudge", price="2.50", quantity=10):
        with self.app.app_context():
            return inventory.create_sweet(name, category, Decimal(price), quantity).id

    def stock(self, sweet_id):
        with self.app.app_context():
            return catalog.get_sweet(sweet_id).quantity

    def history(self, sweet_id):
        """The sweet's ledger as (kind, change, username) tuples, oldest first."""
        with self.app.app_context():
            return [(m.kind, m.change, user) for m, user in reversed(catalog.stock_history(sweet_id))]

    def buy_form(self, page_html, sweet_id):
        """The hidden fields of one sweet's buy form on a catalogue page."""
        form = re.search(rf'action="/sweets/{sweet_id}/buy">(.*?)</form>', page_html, re.S)
        assert form, f"no buy form for sweet {sweet_id}"
        return dict(re.findall(r'name="(\w+)" type="hidden" value="([^"]*)"', form.group(1)))


def flashes(response):
    """The flash messages on a page, as (category, text)."""
    return [(category, html.unescape(text).strip()) for category, text in FLASH_RE.findall(response.text)]


def field_error(response, field_id):
    """The error message shown next to a form field, or None."""
    match = re.search(rf'<p class="error" id="{field_id}-error">(.*?)</p>', response.text, re.S)
    return html.unescape(match.group(1)) if match else None


def input_value(response, field_id):
    match = re.search(rf'<input[^>]*id="{field_id}"[^>]*>', response.text)
    assert match, f"no input {field_id}"
    value = re.search(r'value="([^"]*)"', match.group(0))
    return html.unescape(value.group(1)) if value else None
