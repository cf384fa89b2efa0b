"""Command line (``flask --app sweetshop ...``): create-admin, set-password, send-mail, seed-demo,
audit-stock, import-sweets, purge-tokens and backup."""
import os
import signal
import sqlite3
import sys
from decimal import Decimal

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from . import accounts, catalog, imports, inventory, outbox
from .errors import ImportRejectedError
from .extensions import db
from .models import Sweet
from .rules import clean_password, clean_username
from .wording import plural

DEMO_SWEETS = [
    ("Chocolate Truffle", "Chocolate", "2.50", 40),
    ("Dark Chocolate Bar", "Chocolate", "3.20", 25),
    ("Milk Chocolate Buttons", "Chocolate", "1.80", 60),
    ("Strawberry Bonbon", "Candy", "0.60", 120),
    ("Sherbet Lemon", "Candy", "0.45", 200),
    ("Rhubarb and Custard", "Candy", "0.40", 3),
    ("Gummy Bears", "Gummies", "1.50", 80),
    ("Cola Bottles", "Gummies", "1.20", 0),
    ("Fudge Square", "Fudge", "2.10", 4),
    ("Sea Salt Caramel", "Toffee", "2.75", 30),
    ("Liquorice Allsorts", "Liquorice", "1.95", 45),
    ("Peppermint Humbug", "Mints", "0.35", 150),
]
# What a customer reads on the cards (docs/pages.md); sweets not named here sell "each", no allergens.
DEMO_CONTENT = {
    "Chocolate Truffle": {"allergens": ["milk", "soya"],
                          "description": "Dark ganache rolled in cocoa.\nHand-made in small batches."},
    "Dark Chocolate Bar": {"allergens": ["soya"], "unit": "per 100 g bar"},
    "Milk Chocolate Buttons": {"allergens": ["milk", "soya"], "unit": "per 100 g"},
    "Strawberry Bonbon": {"unit": "per 100 g"},
    "Gummy Bears": {"unit": "per bag"},
    "Fudge Square": {"allergens": ["milk"], "description": "Crumbly butter fudge, cut by hand."},
    "Sea Salt Caramel": {"allergens": ["milk"], "unit": "per 100 g"},
    "Liquorice Allsorts": {"allergens": ["cereals containing gluten"], "unit": "per 100 g"},
}


@click.command("create-admin")
@with_appcontext
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_admin(username, password_stdin):
    """Create an admin account, or make an existing user an admin."""
    try:
        clean_username(username)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="USERNAME") from None
    user = accounts.find_user(username)
    if user is not None:
        accounts.set_admin(user)
        click.echo(f"{user.username} is now an admin (password unchanged).")
        return
    accounts.register(username, _new_password(password_stdin, "Password"), is_admin=True)
    click.echo(f"Admin {username} created.")


def _new_password(from_stdin, prompt):
    """A password read from standard input (one line) or asked for twice, checked by the policy.

    :raise click.BadParameter: the policy refuses it.
    """
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    try:
        return clean_password(password)
    except ValueError as error:
        raise click.BadParameter(f"password: {error}") from None


@click.command("set-password")
@with_appcontext
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def set_password(username, password_stdin):
    """Give an account a new password (for accounts without an email address); every session
    and API token of the account ends."""
    user = accounts.find_user(username)
    if user is None:
        raise click.BadParameter(f"no user named {username!r}", param_hint="USERNAME")
    accounts.set_password(user.id, _new_password(password_stdin, "New password"))
    click.echo(f"Password of {user.username} changed; their sessions and API tokens have ended.")


@click.command("send-mail")
@with_appcontext
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
def send_mail(once):
    """Run a mail sender: hand the outbox's due mails to MAIL_SERVER, until stopped (SIGTERM or
    Ctrl-C finish the mail in hand first). Any number may run, on any hosts."""
    if not current_app.config.get("MAIL_SERVER"):
        click.echo("MAIL_SERVER is not set: nothing is sent; mails wait in the outbox.", err=True)
        sys.exit(1)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    parent = os.getppid()
    # Started by `python -m sweetshop.serve`: end with it, even if it was killed outright.
    beside_server = bool(os.environ.get("SWEETSHOP_SENDER_OF_SERVER"))

    def orphaned():
        return beside_server and os.getppid() != parent
    try:
        outbox.run(once=once, stop=lambda: bool(stopping) or orphaned())
    except KeyboardInterrupt:
        pass


@click.command("seed-demo")
@with_appcontext
def seed_demo():
    """Load the demo catalogue into a shop that has never had a sweet; otherwise add nothing.

    Any sweet, archived ones included, means the shop is in use: re-adding a demo sweet that
    its owner renamed or archived would put units that do not exist on sale.
    """
    has_had_sweets = db.session.execute(select(Sweet.id).limit(1)).first() is not None
    if has_had_sweets:
        click.echo("The shop has had sweets already; seed-demo adds nothing.")
        return
    for name, category, price, quantity in DEMO_SWEETS:
        catalog.create_sweet(name, category, Decimal(price), quantity, **DEMO_CONTENT.get(name, {}))
    click.echo(f"Added {plural(len(DEMO_SWEETS), 'demo sweet')}.")


@click.command("audit-stock")
@with_appcontext
def audit_stock():
    """Check every sweet's quantity against its ledger; exit 1 on any mismatch."""
    mismatches = inventory.audit_stock()
    for sweet_id, quantity, ledger_sum in mismatches:
        click.echo(f"sweet {sweet_id}: quantity {quantity} but ledger sums to {ledger_sum}", err=True)
    if mismatches:
        sys.exit(1)
    count = db.session.scalar(select(func.count()).select_from(Sweet))
    verb = "matches its" if count == 1 else "match their"
    click.echo(f"Stock audit clean: {plural(count, 'sweet')} {verb} ledger.")


@click.command("import-sweets")
@with_appcontext
@click.argument("file", type=click.File("rb"))
@click.option("--dry-run", is_flag=True, help="Check the file and say what would change; change nothing.")
def import_sweets(file, dry_run):
    """Import a CSV of name,category,price[,quantity][,restock]: new sweets, edits and deliveries."""
    data = file.read(current_app.config["IMPORT_MAX_BYTES"] + 1)  # one byte over is enough to refuse
    try:
        outcome = imports.run(data, dry_run=dry_run)
    except ImportRejectedError as error:
        click.echo(f"{error.detail}:", err=True)
        for row in error.rows:
            where = f"line {row['line']}" + (f", {row['field']}" if row["field"] else "")
            click.echo(f"  {where}: {row['message']}", err=True)
        sys.exit(1)
    for change in outcome.changes:
        if change.quantity_differs:
            click.echo(f"line {change.line}: {change.name} has {change.old[3]} in stock, the file "
                       f"says {change.quantity}; the stock stays (only restock adds units).")
    what = (f"{plural(outcome.created, 'new sweet')}, {outcome.updated} updated, "
            f"{outcome.unchanged} unchanged (+{plural(outcome.restocked_units, 'unit')})")
    click.echo(f"Dry run, nothing changed: would apply {what}." if dry_run else f"Imported {what}.")


@click.command("purge-tokens")
@with_appcontext
def purge_tokens():
    """Delete expired API tokens."""
    click.echo(f"Deleted {plural(accounts.purge_expired_tokens(), 'expired token')}.")


@click.command("backup")
@with_appcontext
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
def backup(file):
    """Copy the SQLite database to FILE while the shop runs (SQLite's online backup)."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite":
        raise click.UsageError(
            "backup copies SQLite databases only. For PostgreSQL use pg_dump, e.g.\n"
            "  pg_dump -Fc --file sweetshop.dump \"$DATABASE_URL\"\n"
            "and restore with pg_restore (see the README).")
    if os.path.exists(file):
        raise click.UsageError(f"{file} exists already; backup never overwrites a file.")
    source = sqlite3.connect(url.database, timeout=30)
    target = sqlite3.connect(file)
    try:
        # The online backup API copies a consistent snapshot, page by page, while other
        # connections keep reading and writing (each step takes the read lock briefly).
        source.backup(target, pages=1024)
    finally:
        target.close()
        source.close()
    click.echo(f"Backed up {url.database} to {file}.")


def init_app(app):
    for command in (create_admin, set_password, send_mail, seed_demo, audit_stock, import_sweets,
                    purge_tokens, backup):
        app.cli.add_command(command)
