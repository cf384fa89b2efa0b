"""The page forms (Flask-WTF, so every POST carries a CSRF token).

Fields are checked by the ``clean_*`` functions of ``rules`` through the ``Rule``
adapter, so a sweet is valid on the admin pages exactly when it is valid in the API.
"""
import secrets

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (EmailField, HiddenField, IntegerField, PasswordField, SelectField, SelectMultipleField,
                     StringField, TextAreaField)
from wtforms.validators import EqualTo, InputRequired, Optional, StopValidation
from wtforms.widgets import CheckboxInput, ListWidget

from . import rules
from .models import StockMovement


class Rule:
    """A WTForms validator running one ``rules.clean_*`` function; the field keeps the cleaned value.

    ``parse`` first turns the typed text into what the rule expects (a price into a Decimal).
    """

    def __init__(self, clean, parse=None):
        self.clean = clean
        self.parse = parse

    def __call__(self, form, field):
        if field.process_errors:
            # The field could not read the input at all (e.g. "abc" for an integer) and says so.
            raise StopValidation()
        try:
            value = field.data if self.parse is None else self.parse(field.data)
            field.data = self.clean(value)
        except ValueError as error:
            raise StopValidation(str(error)) from None


def _rule_message(clean, bad_value):
    """What a rule says about a bad value, shown as a hint before anyone types (its wording, not a copy)."""
    try:
        clean(bad_value)
    except ValueError as error:
        return str(error)
    raise AssertionError(f"{clean.__name__} accepted {bad_value!r}")


def _whole_number(text):
    """A number typed or carried in a form field, as an int (ASCII digits only)."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 12):
        raise ValueError("Must be a whole number.")
    return int(text)


def _new_token():
    return secrets.token_urlsafe(24)


def _text(label, max_length, **render_kw):
    return {"label": label, "render_kw": {"maxlength": max_length, **render_kw}}


# (value, label) pairs, handed to the fields through a function: WTForms 3.3 deprecates tuples
# given directly, and SelectChoice does not exist before 3.3.
ALLERGEN_CHOICES = [(name, name.capitalize()) for name in rules.ALLERGENS]
SORT_LABELS = {"name": "Name A–Z", "price": "Price: low to high", "-price": "Price: high to low",
               "newest": "Newest first"}
SORT_CHOICES = [("", "Shop order")] + [(sort, SORT_LABELS[sort]) for sort in rules.SORTS]
COUNT_REASON_LABELS = {"breakage": "Breakage", "theft": "Theft", "miscount": "A miscount", "other": "Other"}
COUNT_REASON_CHOICES = [("", "Choose…")] + [(reason, COUNT_REASON_LABELS[reason])
                                            for reason in StockMovement.COUNT_REASONS]


class CheckboxesField(SelectMultipleField):
    """Several choices as a list of checkboxes (works without JavaScript)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class SweetForm(FlaskForm):
    """A sweet's own fields: what the edit page changes."""

    name = StringField(validators=[Rule(rules.clean_name)], **_text("Name", rules.NAME_MAX, required=True))
    category = StringField(validators=[Rule(rules.clean_category)],
                           **_text("Category", rules.CATEGORY_MAX, required=True))
    price = StringField("Price", [Rule(rules.clean_price, parse=rules.parse_decimal)],
                        render_kw={"inputmode": "decimal", "required": True, "autocomplete": "off"})
    unit = StringField(validators=[Rule(rules.clean_unit)], default=rules.UNIT_DEFAULT,
                       description="What the price buys: each, per 100 g, per bag…",
                       **_text("Unit", rules.UNIT_MAX, required=True))
    description = TextAreaField("Description (optional)", [Rule(rules.clean_description)],
                                description=f"Plain text, up to {rules.DESCRIPTION_MAX} characters; "
                                            "line breaks are kept.",
                                render_kw={"maxlength": rules.DESCRIPTION_MAX, "rows": 5})
    allergens = CheckboxesField("Allergens", [Rule(rules.clean_allergens)],
                                choices=lambda: ALLERGEN_CHOICES, validate_choice=False,  # the rule checks
                                description="The 14 allergens UK and EU food law names: "
                                            "tick every one it contains.")

    def changes(self):
        return {"name": self.name.data, "category": self.category.data, "price": self.price.data,
                "unit": self.unit.data, "description": self.description.data,
                "allergens": self.allergens.data}


PHOTO_LABEL = "Photo (JPEG, PNG or WebP, at most 5 MB)"
PHOTO_TYPES = "image/jpeg,image/png,image/webp"


class NewSweetForm(SweetForm):
    quantity = IntegerField("Initial stock", [Rule(rules.clean_initial_stock)], default=0,
                            render_kw={"min": 0, "max": rules.INITIAL_STOCK_MAX, "required": True})
    photo = FileField("Photo (optional: JPEG, PNG or WebP, at most 5 MB)",
                      render_kw={"accept": PHOTO_TYPES})

    def changes(self):
        """The sweet's fields (the photo is not one: it is stored once the sweet exists)."""
        return dict(super().changes(), quantity=self.quantity.data)


class PhotoForm(FlaskForm):
    """A photo upload; what the file is, is decided by decoding it (``photos.encode``)."""

    photo = FileField(PHOTO_LABEL, [FileRequired("Choose a photo to upload.")],
                      render_kw={"accept": PHOTO_TYPES})


class RestockForm(FlaskForm):
    quantity = IntegerField("Units to add", [Rule(rules.clean_restock_quantity)],
                            render_kw={"min": 1, "max": rules.RESTOCK_MAX, "required": True})


def _quantity(label="Quantity", **kwargs):
    """An order line's quantity: the API's rule for it (1 to 1000)."""
    return IntegerField(label, [Rule(rules.clean_purchase_quantity)],
                        render_kw={"min": 1, "max": rules.PURCHASE_MAX, "required": True}, **kwargs)


class AddToBasketForm(FlaskForm):
    """One sweet's form on the catalogue; ``next`` is the catalogue page and search to go back to."""

    quantity = _quantity(default=1)
    next = HiddenField()


class BasketLineForm(FlaskForm):
    """A basket line's new quantity."""

    quantity = _quantity()


class PlaceOrderForm(FlaskForm):
    """"Place order": ``lines`` is the basket as the customer saw it ("3:2 7:1"), and ``token`` is new
    on every render and becomes the order's idempotency key, so a double submit places one order."""

    lines = HiddenField()
    token = HiddenField(default=_new_token, validators=[Rule(rules.clean_idempotency_key)])


PRICE_BOUND = Rule(rules.clean_price_bound, parse=rules.parse_decimal)


class SearchForm(FlaskForm):
    """The catalogue filters, read from the query string (a GET form: nothing to protect with CSRF)."""

    class Meta:
        csrf = False

    # What a catalogue page link carries over (sweetshop.paging builds links from this list only).
    QUERY_PARAMETERS = ("name", "category", "min_price", "max_price", "sort")

    name = StringField("Name", [Optional(), Rule(rules.check_plain_text)],
                       render_kw={"maxlength": rules.NAME_MAX, "type": "search"})
    category = SelectField("Category", [Optional(), Rule(rules.check_plain_text)], validate_choice=False)
    min_price = StringField("Min price", [Optional(), PRICE_BOUND], render_kw={"inputmode": "decimal"})
    max_price = StringField("Max price", [Optional(), PRICE_BOUND], render_kw={"inputmode": "decimal"})
    # An unknown order is left out (the default is used) and said next to the field.
    sort = SelectField("Sort by", [Optional()], choices=lambda: SORT_CHOICES)

    def order(self):
        """The valid ``sort`` for ``catalog.search_sweets`` (None: the default); call after ``filters``."""
        return rules.clean_sort(self.sort.data) if self.sort.data and not self.sort.errors else None

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        low, high = self.min_price, self.max_price
        if not (low.errors or high.errors) and low.data and high.data and low.data > high.data:
            low.errors.append("Must not be more than the max price.")
            return False
        return valid

    def filters(self):
        """The filters that passed validation, as keyword arguments for ``catalog.search_sweets``;
        a filter with an error is left out (and its message shown next to it). A price range whose
        bounds are the wrong way round is left out whole: half of it would be a filter nobody asked for."""
        self.validate()
        filters = {"name": None, "category": None}
        for field in (self.name, self.category):
            if field.data and not field.errors:
                filters[field.name] = field.data.strip()[:rules.NAME_MAX] or None
        prices = (self.min_price, self.max_price)
        if not any(field.errors for field in prices):
            for field in prices:
                if field.data:
                    filters[field.name] = field.data
        return filters


def new_password(label):
    """A new password, checked by the policy (``rules.clean_password``) with its hint."""
    return PasswordField(label, [Rule(rules.clean_password)], description=rules.PASSWORD_HINT,
                         render_kw={"required": True, "autocomplete": "new-password",
                                    "minlength": rules.PASSWORD_MIN, "maxlength": rules.PASSWORD_MAX})


def repeat_password(label):
    """The new password again, which must equal the form's ``password`` field."""
    return PasswordField(label, [EqualTo("password", "The passwords do not match.")],
                         render_kw={"required": True, "autocomplete": "new-password"})


class RegisterForm(FlaskForm):
    username = StringField("Username", [Rule(rules.clean_username)],
                           description=_rule_message(rules.clean_username, ""),
                           render_kw={"required": True, "autocomplete": "username"})
    full_name = StringField("Full name (optional)", [Rule(rules.clean_full_name)],
                            render_kw={"maxlength": rules.FULL_NAME_MAX, "autocomplete": "name"})
    email = EmailField("Email (optional)", [Rule(rules.clean_email)],
                       description="For your receipts, and a link should you forget your password.",
                       render_kw={"maxlength": rules.EMAIL_MAX, "autocomplete": "email"})
    password = new_password("Password")
    confirm = repeat_password("Repeat password")
    # Where to go after the login that follows (e.g. back to the basket).
    next = HiddenField()


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", [InputRequired("Enter your current password.")],
                                     render_kw={"required": True, "autocomplete": "current-password"})
    password = new_password("New password")
    confirm = repeat_password("Repeat new password")


class EmailForm(FlaskForm):
    """/account: a new address (empty removes it), confirmed with the current password."""

    email = EmailField("Email", [Rule(rules.clean_email)],
                       render_kw={"maxlength": rules.EMAIL_MAX, "autocomplete": "email"})
    email_password = PasswordField("Current password", [InputRequired("Enter your current password.")],
                                   render_kw={"required": True, "autocomplete": "current-password"})


class ForgotPasswordForm(FlaskForm):
    account = StringField("Username or email", [InputRequired("Enter your username or email.")],
                          render_kw={"required": True, "autocomplete": "username", "maxlength": 254})


class ResetPasswordForm(FlaskForm):
    password = new_password("New password")
    confirm = repeat_password("Repeat new password")


class LoginForm(FlaskForm):
    username = StringField("Username", [InputRequired("Enter your username.")],
                           render_kw={"required": True, "autocomplete": "username"})
    password = PasswordField("Password", [InputRequired("Enter your password.")],
                             render_kw={"required": True, "autocomplete": "current-password"})
    next = HiddenField()


class MakeAdminForm(FlaskForm):
    username = StringField("Username", [Rule(rules.clean_username)], render_kw={"required": True})


class UserSearchForm(FlaskForm):
    """The /admin/users search box (a GET form)."""

    class Meta:
        csrf = False

    q = StringField("Name", [Optional(), Rule(rules.check_plain_text)],
                    render_kw={"maxlength": 100, "type": "search"})


class RoleForm(FlaskForm):
    """A "make admin" or "revoke admin" button; ``next`` brings the admin back to the same list page."""

    next = HiddenField()


class ConfirmForm(FlaskForm):
    """A button and its CSRF token (log out, archive or restore a sweet, remove a basket line,
    cancel an order); ``next`` says where to go back to, when that varies."""

    next = HiddenField()


class OrderFilterForm(FlaskForm):
    """The admin orders list's status filter, read from the query string."""

    class Meta:
        csrf = False

    status = SelectField("Status", default="")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Set here, as the catalogue sets its categories: WTForms 3.3 deprecates tuples passed to
        # the field, and its SelectChoice does not exist in the 3.1 this project supports.
        self.status.choices = [("", "All orders"), ("placed", "Placed"), ("cancelled", "Cancelled")]


class CountForm(FlaskForm):
    """A stock count: ``seen`` is the stock the page showed, sent back so the count is a
    compare-and-set (a sale made meanwhile is never overwritten)."""

    counted = IntegerField("Counted on the shelf", [Rule(rules.clean_counted)],
                           render_kw={"min": 0, "max": rules.COUNT_MAX, "required": True})
    # Kept on the count's ledger row (its note), so the history says why the shelf differed.
    reason = SelectField("Why it differs", [InputRequired("Choose why the count differs.")],
                         choices=lambda: COUNT_REASON_CHOICES, render_kw={"required": True})
    seen = HiddenField(validators=[Rule(rules.clean_seen, parse=_whole_number)])


class LedgerRangeForm(FlaskForm):
    """The ledger download's dates, read from the query string (a GET form: no CSRF needed)."""

    class Meta:
        csrf = False

    # The browser shows its own date picker in the reader's format, so the labels name no format;
    # a browser without one sends what is typed, and the rule's message then says YYYY-MM-DD.
    since = StringField("From", [Optional(), Rule(rules.clean_day)], render_kw={"type": "date"})
    until = StringField("To", [Optional(), Rule(rules.clean_day)], render_kw={"type": "date"})

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        if valid and self.since.data and self.until.data and self.since.data > self.until.data:
            self.since.errors.append("Must not be after the end date.")
            return False
        return valid


class ImportForm(FlaskForm):
    file = FileField("CSV file (name, category, price, quantity, restock)",
                     [FileRequired("Choose a CSV file to upload.")], render_kw={"accept": ".csv,text/csv"})


class ImportConfirmForm(FlaskForm):
    """Carries the previewed file to the confirm step: base64 text and the preview's token, plus an
    HMAC of both under the app's secret key, so what is applied is exactly the file the preview
    showed, and the token (which the import's receipt claims) is the preview's own."""

    content = HiddenField()
    token = HiddenField()
    digest = HiddenField()
