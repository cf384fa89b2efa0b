"""CSV import of a delivery, a new range or edits made in a spreadsheet: one implementation for the
page, the API and the CLI.

The file's header names its columns: ``name``, ``category`` and ``price`` are required,
``quantity`` and ``restock`` optional, in any order and any case; other columns are ignored (so an
export with more columns still imports). A row whose name matches a sweet on sale, without regard
to case, sets that sweet's category and price; any other row creates a sweet.

Stock moves only through ``restock``: the units delivered, added by the restock's atomic increment
(to a new sweet, after its initial stock). ``quantity`` is a new sweet's initial stock and never
changes an existing sweet's: the file may be an old export, and sales have happened since. So an
export imported back unchanged changes nothing, and a price edited in a spreadsheet changes only
that price; the preview says where a ``quantity`` differs from the stock now.

The whole file is checked first and every problem reported by line and field (the header is line
1); only a file without any problem is applied, in one transaction. A preview carries a token, and
the receipt that claims it is part of that transaction, so one preview is applied at most once.

Decisions where the rules are silent:
- a UTF-8 byte order mark (as spreadsheets write) is accepted and ignored;
- a cell that an export neutralised with a leading ``'`` (``'=Fizz``) is read back without it;
- blank lines are skipped; a value spanning lines (a quoted newline) is refused, since names
  and categories are one line of text; a row may stop before its empty trailing cells;
- a category that matches one already on sale without regard to case takes that spelling;
- ``quantity`` on a new sweet and ``restock`` are whole numbers from 0 to 1,000,000 (a restock's
  bounds); on an existing sweet ``quantity`` is only compared, so any whole number is accepted
  there (an export of a sweet with more in stock imports back); ``price`` follows the API's
  rules (more than 0, at most 100000, at most 2 decimals).
"""
import csv
import io
import logging
import re
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from . import catalog, inventory
from .errors import ImportAlreadyAppliedError, ImportRejectedError
from .extensions import db
from .models import ImportReceipt, Sweet, utcnow
from .rules import (INITIAL_STOCK_MAX, RESTOCK_MAX, STOCK_MAX, UNIT_DEFAULT, clean_category, clean_count,
                    clean_initial_stock, clean_name, clean_price, parse_decimal)
from .transactions import transaction

REQUIRED = ("name", "category", "price")
COLUMNS = REQUIRED + ("quantity", "restock")
NEUTRALISED = ("'=", "'+", "'-", "'@")
INTEGER_RE = re.compile(r"[+-]?[0-9]+")  # ASCII digits only, as in the API
sweets = Sweet.__table__
receipts = ImportReceipt.__table__
log = logging.getLogger(__name__)


@dataclass
class Change:
    """One row of a checked file: what it will do (``kind`` is "create", "update" or "unchanged")."""

    line: int
    kind: str
    name: str
    category: str
    price: object
    quantity: int | None  # as in the file (None: empty); stock only for a new sweet
    restock: int
    sweet_id: int | None = None
    old: object = None  # the matched sweet's (name, category, price, quantity)

    @property
    def fields_change(self):
        return self.old is not None and (self.old[1], self.old[2]) != (self.category, self.price)

    @property
    def quantity_differs(self):
        """An existing sweet's ``quantity`` cell that is not its stock now (which stays as it is)."""
        return self.old is not None and self.quantity is not None and self.quantity != self.old[3]


@dataclass
class Outcome:
    changes: list = field(default_factory=list)
    applied: bool = False

    def _count(self, kind):
        return sum(1 for change in self.changes if change.kind == kind)

    @property
    def created(self):
        return self._count("create")

    @property
    def updated(self):
        return self._count("update")

    @property
    def unchanged(self):
        return self._count("unchanged")

    @property
    def restocked_units(self):
        return sum(change.restock for change in self.changes)

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
        _refuse("The file is empty: the first line must be a header with the columns "
                + ",".join(REQUIRED) + " (and optionally quantity, restock).")
    return text


def _columns(header):
    """``{column: index}`` of the known columns the header names.

    :raise ImportRejectedError: semicolons, a required column missing, or a column twice.
    """
    cells = [cell.strip().lower() for cell in header]
    if len(cells) == 1 and ";" in cells[0]:
        _refuse("Columns must be separated by commas, not semicolons.")
    twice = sorted({cell for cell in cells if cell in COLUMNS and cells.count(cell) > 1})
    if twice:
        _refuse(f"The header names the column {twice[0]} more than once.")
    missing = [name for name in REQUIRED if name not in cells]
    if missing:
        _refuse("The first line must be a header naming the columns " + ",".join(REQUIRED)
                + f" (and optionally quantity, restock); {', '.join(missing)} missing in "
                + f"{','.join(header)[:200]!r}.")
    return {name: cells.index(name) for name in COLUMNS if name in cells}


def _text(value):
    if value.startswith(NEUTRALISED):
        return value[1:]
    return value


def _whole_number(text):
    """A cell's whole number, or None for an empty cell."""
    text = text.strip()
    if not text:
        return None
    if not (len(text) <= 12 and INTEGER_RE.fullmatch(text)):
        raise ValueError("Must be a whole number.")
    return int(text)


def _quantity(text):
    """Only compared on an existing sweet, so any stock it may hold is accepted here; a new sweet's
    bound is checked once the row is matched (``_stock_problems``)."""
    value = _whole_number(text)
    if value is not None and not 0 <= value <= STOCK_MAX:
        raise ValueError(f"Must be between 0 and {INITIAL_STOCK_MAX} (the stock of a new sweet).")
    return value


def _restock(text):
    value = _whole_number(text)
    return 0 if value is None else clean_count(value, 0, RESTOCK_MAX)


FIELDS = {
    "name": lambda text: clean_name(_text(text)),
    "category": lambda text: clean_category(_text(text)),
    "price": lambda text: clean_price(parse_decimal(text)),
    "quantity": _quantity,
    "restock": _restock,
}


def _rows(text):
    """``(line, cells)`` of each non-blank record after the header, ``line`` being where it starts,
    and the header's ``{column: index}``.

    :raise ImportRejectedError: bad header, malformed CSV or too many rows.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    max_rows = current_app.config["IMPORT_MAX_ROWS"]
    rows, start, columns = [], 1, {}
    try:
        columns = _columns(next(reader))
        start = reader.line_num + 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((start, cells))
                if len(rows) > max_rows:
                    _refuse(f"The file has more than {max_rows} rows; split it into smaller files.", start)
            start = reader.line_num + 1
    except csv.Error as error:
        _refuse(f"This line is not valid CSV ({error}).", start)
    return rows, columns


def _clean_row(line, cells, columns, problems):
    """The row's valid values by column, and whether it had a problem (appended to ``problems``)."""
    needed = max(columns[name] for name in REQUIRED) + 1
    if len(cells) < needed:
        problems.append(_problem(line, None, f"Expected at least {needed} values "
                                             f"({', '.join(REQUIRED)}), found {len(cells)}."))
        return {}, True
    values, bad = {}, False
    for name, index in columns.items():
        try:
            values[name] = FIELDS[name](cells[index] if index < len(cells) else "")
        except ValueError as error:
            problems.append(_problem(line, name, str(error)))
            bad = True
    return values, bad


def check(data):
    """Read and check a whole CSV file against the rules and the catalogue; change nothing.

    :raise ImportRejectedError: listing every problem of the file.
    """
    rows, columns = _rows(_decode(data))
    problems, cleaned, first_line = [], [], {}
    for line, cells in rows:
        values, bad = _clean_row(line, cells, columns, problems)
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
    changes = _match(cleaned)
    problems.extend(_stock_problems(changes))
    if problems:
        raise ImportRejectedError(sorted(problems, key=lambda problem: problem["line"]))
    return Outcome(changes=changes)


def _stock_problems(changes):
    """A new sweet's initial stock keeps to its bounds (an existing sweet's ``quantity`` is only
    compared, whatever it is)."""
    problems = []
    for change in changes:
        if change.kind == "create" and change.quantity is not None:
            try:
                clean_initial_stock(change.quantity)
            except ValueError as error:
                problems.append(_problem(change.line, "quantity", str(error)))
    return problems


def _on_sale_by_name(names):
    """``{lower(name): (id, (name, category, price, quantity))}`` of the sweets on sale named."""
    found = {}
    for start in range(0, len(names), 500):  # bounded IN lists
        rows = db.session.execute(
            select(Sweet.id, func.lower(Sweet.name), Sweet.name, Sweet.category, Sweet.price, Sweet.quantity)
            .where(Sweet.archived_at.is_(None), func.lower(Sweet.name).in_(names[start:start + 500])))
        for sweet_id, key, *old in rows:
            found[key] = (sweet_id, tuple(old))
    return found


def _match(cleaned):
    """Each checked row as a Change: an update of the sweet on sale of that name, else a create.
    A category takes the spelling already on sale (or the file's first) without regard to case."""
    on_sale = _on_sale_by_name([values["name"].lower() for _, values in cleaned])
    spellings = {name.lower(): name for name in catalog.categories()}
    changes = []
    for line, values in cleaned:
        values["category"] = spellings.setdefault(values["category"].lower(), values["category"])
        sweet_id, old = on_sale.get(values["name"].lower(), (None, None))
        change = Change(line, "create", sweet_id=sweet_id, old=old, quantity=values.get("quantity"),
                        restock=values.get("restock", 0), name=values["name"],
                        category=values["category"], price=values["price"])
        if old is not None:
            change.kind = "update" if change.fields_change or change.restock else "unchanged"
        changes.append(change)
    return changes


def run(data, user_id=None, dry_run=False, token=None):
    """Check a CSV file and, unless ``dry_run``, apply it in one transaction; returns the Outcome.

    ``token`` names the preview being confirmed: a token already applied applies nothing.

    :raise ImportRejectedError: any problem with the file (nothing changed).
    :raise ImportAlreadyAppliedError: ``token`` was applied before (nothing changed).
    """
    outcome = check(data)
    if not dry_run:
        _apply(outcome, user_id, token)
        outcome.applied = True
    return outcome


def _apply(outcome, user_id, token):
    """All of the file's changes in one transaction, or (on any error) none of them.

    :raise ImportRejectedError: a matched sweet was archived, a new name was taken, or a stock
        would pass its maximum, since the file was checked (nothing changed).
    :raise ImportAlreadyAppliedError:
    """
    try:
        with transaction():
            now = utcnow()
            if token is not None:
                _claim(token, outcome, user_id, now)
            # Existing sweets in ascending id, as an order locks them: two imports (or an import
            # and an order) that touch the same sweets wait for each other instead of deadlocking.
            updates = [change for change in outcome.changes if change.kind == "update"]
            for change in sorted(updates, key=lambda change: change.sweet_id):
                _update(change, user_id, now)
            for change in outcome.changes:
                if change.kind == "create":
                    _create(change, user_id, now)
    except _ClaimedError:
        # Read after the rollback: PostgreSQL runs nothing more in a transaction that failed.
        receipt = db.session.execute(select(receipts).where(receipts.c.token == token)).one_or_none()
        raise ImportAlreadyAppliedError(receipt) from None
    except IntegrityError:
        # A sweet of the same name was put on sale since the file was checked.
        raise ImportRejectedError([], "A sweet of a new name in the file was added meanwhile; "
                                      "nothing changed, please check the file again") from None
    log.info("stock import", extra={"sweets_created": outcome.created, "sweets_updated": outcome.updated,
                                    "units_restocked": outcome.restocked_units, "by_user_id": user_id})


def _claim(token, outcome, user_id, now):
    """Insert the preview's receipt, first in the import's transaction: the unique token decides
    which of two confirms of one preview applies it (the other waits for the first's commit, then
    meets the constraint; if the first rolled back, the second goes ahead).

    :raise _ClaimedError: the token has a receipt already (nothing else was written yet: the
        rollback loses nothing).
    """
    try:
        db.session.execute(insert(receipts).values(
            token=token, user_id=user_id, created=outcome.created, updated=outcome.updated,
            restocked_units=outcome.restocked_units, created_at=now))
    except IntegrityError:
        raise _ClaimedError() from None


class _ClaimedError(Exception):
    """Raised inside the import's transaction when its receipt was refused, so that ``_apply``
    reads the first confirm's receipt after the rollback."""


def _changed_meanwhile():
    return ImportRejectedError([], "A sweet in the file was archived or changed meanwhile; "
                                   "nothing changed, please check the file again")


def _update(change, user_id, now):
    if change.fields_change:
        touched = db.session.execute(
            update(sweets).where(sweets.c.id == change.sweet_id, sweets.c.archived_at.is_(None))
            .values(category=change.category, price=change.price, updated_at=now)).rowcount
        if not touched:
            raise _changed_meanwhile()
    if change.restock and inventory.add_units(change.sweet_id, change.restock, user_id, now) is None:
        raise _changed_meanwhile()


def _create(change, user_id, now):
    fields = {"name": change.name, "category": change.category, "price": change.price, "description": "",
              "unit": UNIT_DEFAULT, "allergens": []}
    sweet_id = inventory.insert_stocked_sweet(fields, change.quantity or 0, user_id, now)
    if change.restock and inventory.add_units(sweet_id, change.restock, user_id, now) is None:
        raise _changed_meanwhile()
