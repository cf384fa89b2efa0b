"""Helpers for the page tests: a test client that fills in CSRF tokens like a browser would."""
import html
import re
from decimal import Decimal
from html.parser import HTMLParser

from support.harness import TEST_PASSWORD
from sweetshop import accounts, catalog

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

    def log_out(self):
        response = self.post("/logout")
        assert response.status_code == 302

    def login(self, username, password=TEST_PASSWORD, next=None):
        data = {"username": username, "password": password}
        if next is not None:
            data["next"] = next
        return self.post("/login", data)

    def customer(self, username="carol"):
        """Register a customer, which logs them in."""
        assert self.register(username).status_code == 302

    def admin(self, username="boss"):
        """Create an admin (as the CLI would) and log in."""
        with self.app.app_context():
            accounts.register(username, TEST_PASSWORD, is_admin=True)
        assert self.login(username).status_code == 302

    def sweet(self, name="Fudge", category="Fudge", price="2.50", quantity=10):
        with self.app.app_context():
            return catalog.create_sweet(name, category, Decimal(price), quantity).id

    def stock(self, sweet_id):
        with self.app.app_context():
            return catalog.get_sweet(sweet_id).quantity

    def history(self, sweet_id):
        """The sweet's ledger as (kind, change, username) tuples, oldest first."""
        with self.app.app_context():
            return [(m.kind, m.change, user) for m, user in reversed(catalog.stock_history(sweet_id))]

    def add(self, sweet_id, quantity=1, page="/"):
        """Add to the basket through the sweet's form on a catalogue page, as a browser would."""
        fields = form_fields(self.client.get(page).text, f"/basket/add/{sweet_id}")
        return self.client.post(f"/basket/add/{sweet_id}", data=dict(fields, quantity=str(quantity)))

    def basket(self):
        with self.client.session_transaction() as session:
            return {int(key): value for key, value in session.get("basket", {}).items()}

    def place_form(self):
        """The hidden fields of the basket page's "Place order" form."""
        return form_fields(self.client.get("/basket").text, "/basket/order")

    def place(self):
        return self.client.post("/basket/order", data=self.place_form())


class _Forms(HTMLParser):
    """Every form of a page: its action and the values its fields would send."""

    def __init__(self):
        super().__init__()
        self.forms, self._select = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action"), "fields": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value") or ""
        elif tag == "select" and self.forms:
            self._select = attrs.get("name")
            self.forms[-1]["fields"].setdefault(self._select, "")
        elif tag == "option" and self._select and "selected" in attrs:
            self.forms[-1]["fields"][self._select] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def form_fields(page_html, action):
    """The fields (name -> value) of the page's form posting to ``action``."""
    parser = _Forms()
    parser.feed(page_html)
    found = [form["fields"] for form in parser.forms if form["action"] == action]
    assert found, f"no form for {action}"
    return found[0]


class _Text(HTMLParser):
    """The text inside each element that has an id, whitespace collapsed."""

    VOID = {"input", "br", "img", "meta", "link", "hr", "source", "wbr"}

    def __init__(self):
        super().__init__()
        self.texts, self._open = {}, []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self._open.append(dict(attrs).get("id"))

    def handle_endtag(self, tag):
        if tag not in self.VOID and self._open:
            self._open.pop()

    def handle_data(self, data):
        for element_id in self._open:
            if element_id:
                self.texts[element_id] = self.texts.get(element_id, "") + data


def text_of(response, element_id):
    """The text of the element with this id (None if there is none), whitespace collapsed."""
    parser = _Text()
    parser.feed(response.text)
    text = parser.texts.get(element_id)
    return None if text is None else " ".join(text.split())


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
