"""CSV import of a delivery or a new range: one implementation for the page, the API and the CLI.

The file has the columns ``name, category, price, quantity`` (a header row first). A row
whose name matches a sweet on sale, without regard to case, sets its category and price and
adds ``quantity`` units as a restock; any other row creates a sweet with that initial stock.
The whole file is checked first and every problem reported by line and field (the header is
line 1); only a file without any problem is applied, in one transaction (see
``inventory.apply_import``).

Decisions where the SPEC is silent:
- a UTF-8 byte order mark (as spreadsheets write) is accepted and ignored;
- the header must start with the four columns in that order, in any case; further columns
  are ignored (so an export with more columns still imports);
- a cell that an export neutralised with a leading ``'`` (``'=Fizz``) is read back without it;
- blank lines are skipped; a value spanning lines (a quoted newline) is refused, since names
  and categories are one line of text;
- ``quantity`` is a whole number from 0 to 1,000,000 (a restock's bounds); ``price`` follows
  the API's rules (more than 0, at most 100000, at most 2 decimals).
"""
import csv
import io
import re
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, select

from . import inventory
from .errors import ImportRejectedError
from .extensions import db
from .models import Sweet
from .rules import RESTOCK_MAX, clean_category, clean_count, clean_name, clean_price, parse_decimal

COLUMNS = ("name", "category", "price", "quantity")
NEUTRALISED = ("'=", "'+", "'-", "'@")
INTEGER_RE = re.compile(r"[+-]?[0-9]+")  # ASCII digits only, as in the API


@dataclass
class Change:
    """One row of a checked file: what it will do (``kind`` is "create" or "update")."""

    line: int
    kind: str
    name: str
    category: str
    price: object
    quantity: int
    sweet_id: int | None = None
    old: object = None  # the matched sweet's (name, category, price, quantity)


@dataclass
class Outcome:
    changes: list = field(default_factory=list)
    applied: bool = False

    @property
    def created(self):
        return sum(1 for change in self.changes if change.kind == "create")

    @property
    def updated(self):
        return sum(1 for change in self.changes if change.kind == "update")

    @property
    def restocked_units(self):
        return sum(change.quantity for change in self.changes if change.kind == "update")

    def summary(self):
        return {"created": self.created, "updated": self.updated,
                "restocked_units": self.restocked_units, "applied": self.applied}


def _problem(line, field_name, message):
    return {"line": line, "field": field_name, "message": message}


def _refuse(message, line=1):
    raise ImportRejectedError([_problem(line, None, message)])


def _decode(data):
    """The file's text. :raise ImportRejectedError: too large, empty, binary or not UTF-8."""
    limit = current_app.config["IMPORT_MAX_BYTES"]
    if len(data) > limit:
        _refuse(f"The file is larger than the limit of {limit} bytes; split it into smaller files.")
    if b"\x00" in data:
        _refuse("This is not a CSV text file (it contains binary data).")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        _refuse(f"The file is not UTF-8 text (byte {error.start + 1} is not valid UTF-8); "
                "save it as 'CSV UTF-8'.", line)
    if not text.strip():
        _refuse("The file is empty: the first line must be the header " + ",".join(COLUMNS) + ".")
    return text


def _check_header(header):
    cells = [cell.strip().lower() for cell in header]
    if len(cells) == 1 and ";" in cells[0]:
        _refuse("Columns must be separated by commas, not semicolons.")
    if tuple(cells[:len(COLUMNS)]) != COLUMNS:
        _refuse("The first line must be the header " + ",".join(COLUMNS)
                + f"; found {','.join(header)[:200]!r}.")


def _text(value):
    if value.startswith(NEUTRALISED):
        return value[1:]
    return value


def _clean_quantity(text):
    text = text.strip()
    if not (len(text) <= 12 and INTEGER_RE.fullmatch(text)):
        raise ValueError("Must be a whole number.")
    return clean_count(int(text), 0, RESTOCK_MAX)


FIELDS = {
    "name": lambda text: clean_name(_text(text)),
    "category": lambda text: clean_category(_text(text)),
    "price": lambda text: clean_price(parse_decimal(text)),
    "quantity": _clean_quantity,
}


def _rows(text):
    """``(line, cells)`` of each non-blank record after the header, ``line`` being where it starts.

    :raise ImportRejectedError: bad header, malformed CSV or too many rows.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    max_rows = current_app.config["IMPORT_MAX_ROWS"]
    rows, start = [], 1
    try:
        header = next(reader)
        _check_header(header)
        start = reader.line_num + 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((start, cells))
                if len(rows) > max_rows:
                    _refuse(f"The file has more than {max_rows} rows; split it into smaller files.", start)
            start = reader.line_num + 1
    except csv.Error as error:
        _refuse(f"This line is not valid CSV ({error}).", start)
    return rows


def check(data):
    """Read and check a whole CSV file against the rules and the catalogue; change nothing.

    :raise ImportRejectedError: listing every problem of the file.
    """
    rows = _rows(_decode(data))
    problems, cleaned, first_line = [], [], {}
    for line, cells in rows:
        if len(cells) < len(COLUMNS):
            problems.append(_problem(line, None, f"Expected {len(COLUMNS)} values "
                                                 f"({', '.join(COLUMNS)}), found {len(cells)}."))
            continue
        values, bad = {}, False
        for name, cell in zip(COLUMNS, cells):
            try:
                values[name] = FIELDS[name](cell)
            except ValueError as error:
                problems.append(_problem(line, name, str(error)))
                bad = True
        if "name" in values:
            key = values["name"].lower()
            if key in first_line:
                problems.append(_problem(line, "name", f"The same name as line {first_line[key]} "
                                                       "(names are compared without regard to case)."))
                bad = True
            else:
                first_line[key] = line
        if not bad:
            cleaned.append((line, values))
    if not rows:
        problems.append(_problem(1, None, "The file has a header but no rows."))
    if problems:
        raise ImportRejectedError(problems)
    return Outcome(changes=_match(cleaned))


def _match(cleaned):
    """Each checked row as a Change: an update of the sweet on sale of that name, else a create."""
    names = [values["name"].lower() for _, values in cleaned]
    on_sale = {}
    for start in range(0, len(names), 500):  # bounded IN lists
        found = db.session.execute(
            select(Sweet.id, func.lower(Sweet.name), Sweet.name, Sweet.category, Sweet.price, Sweet.quantity)
            .where(Sweet.archived_at.is_(None), func.lower(Sweet.name).in_(names[start:start + 500])))
        for sweet_id, key, *old in found:
            on_sale[key] = (sweet_id, tuple(old))
    db.session.rollback()  # end the read: the apply is its own transaction
    changes = []
    for line, values in cleaned:
        sweet_id, old = on_sale.get(values["name"].lower(), (None, None))
        changes.append(Change(line, "update" if sweet_id else "create", sweet_id=sweet_id, old=old,
                              **values))
    return changes


def run(data, user_id=None, dry_run=False):
    """Check a CSV file and, unless ``dry_run``, apply it in one transaction; returns the Outcome.

    :raise ImportRejectedError: any problem with the file (nothing changed).
    """
    outcome = check(data)
    if not dry_run:
        inventory.apply_import(
            creates=[(c.name, c.category, c.price, c.quantity) for c in outcome.changes
                     if c.kind == "create"],
            updates=[(c.sweet_id, c.category, c.price, c.quantity) for c in outcome.changes
                     if c.kind == "update"],
            user_id=user_id)
        outcome.applied = True
    return outcome
