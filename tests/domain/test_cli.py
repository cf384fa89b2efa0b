"""Command line: create-admin, seed-demo and audit-stock, in-process and as a real ``flask`` process."""
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, func, select, text

from support.harness import flask_cli, migrated_database, server_env
from sweetshop import accounts, catalog
from sweetshop.cli import DEMO_SWEETS
from sweetshop.extensions import db
from sweetshop.models import Sweet, User


def user(app, username):
    with app.app_context():
        found = accounts.find_user(username)
        db.session.expunge_all()
        return found


def sweet_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Sweet))


def can_log_in(client, username, password):
    return client.post("/api/auth/login",
                       data={"username": username, "password": password}).status_code == 200


# --- create-admin ------------------------------------------------------------------------

def test_create_admin_asks_for_the_password_twice(app, runner, client):
    result = runner.invoke(args=["create-admin", "boss"], input="long-password\nlong-password\n")
    assert result.exit_code == 0, result.output
    assert "Admin boss created." in result.output and "long-password" not in result.output
    assert user(app, "boss").is_admin
    assert can_log_in(client, "boss", "long-password")


def test_create_admin_reads_the_password_from_stdin(app, runner, client):
    result = runner.invoke(args=["create-admin", "boss", "--password-stdin"],
                           input="from a script\n")
    assert result.exit_code == 0, result.output
    assert user(app, "boss").is_admin and can_log_in(client, "boss", "from a script")


def test_create_admin_promotes_an_existing_user_in_any_case(app, runner, client):
    client.post("/api/auth/register", json={"username": "Alice", "password": "long enough 1"})
    result = runner.invoke(args=["create-admin", "ALICE"])  # no password asked
    assert result.exit_code == 0, result.output
    assert "Alice is now an admin" in result.output
    assert user(app, "alice").is_admin and can_log_in(client, "alice", "long enough 1")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_create_admin_refuses_a_bad_name(app, runner):
    result = runner.invoke(args=["create-admin", "no spaces!", "--password-stdin"],
                           input="long-password\n")
    assert result.exit_code == 2 and "USERNAME" in result.output
    assert user(app, "no spaces!") is None


def test_create_admin_refuses_a_short_password(app, runner):
    result = runner.invoke(args=["create-admin", "boss", "--password-stdin"], input="short\n")
    assert result.exit_code != 0 and "password" in result.output
    assert user(app, "boss") is None


def test_create_admin_prompt_refuses_a_mismatched_confirmation(app, runner):
    result = runner.invoke(args=["create-admin", "boss"], input="long-password\nother-password\n")
    assert result.exit_code != 0
    assert user(app, "boss") is None


# --- seed-demo and audit-stock -----------------------------------------------------------

def test_seed_demo_is_idempotent(app, runner):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0 and f"Added {len(DEMO_SWEETS)} demo sweets" in first.output
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0 and "adds nothing" in second.output
    assert sweet_count(app) == len(DEMO_SWEETS)
    assert runner.invoke(args=["audit-stock"]).exit_code == 0


def test_seed_demo_leaves_a_shop_in_use_alone(app, runner):
    """A renamed demo sweet is not added back (with units that do not exist), nor an archived one."""
    runner.invoke(args=["seed-demo"])
    with app.app_context():
        fudge = db.session.scalar(select(Sweet).where(Sweet.name == "Fudge Square"))
        catalog.update_sweet(fudge.id, name="Fudge Slab")
        for sweet_id in db.session.scalars(select(Sweet.id)).all():
            catalog.archive_sweet(sweet_id)
    before = sweet_count(app)
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0 and "adds nothing" in result.output
    assert sweet_count(app) == before
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Sweet)
                                 .where(Sweet.archived_at.is_(None))) == 0


def test_seed_demo_adds_nothing_to_a_shop_that_only_ever_had_archived_sweets(app, runner):
    with app.app_context():
        catalog.archive_sweet(catalog.create_sweet("Mine", "Own", Decimal("1.00"), 3).id)
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0 and "adds nothing" in result.output
    assert sweet_count(app) == 1


def test_audit_stock_fails_on_a_row_changed_behind_the_ledger(app, runner):
    runner.invoke(args=["seed-demo"])
    clean = runner.invoke(args=["audit-stock"])
    assert clean.exit_code == 0 and f"{len(DEMO_SWEETS)} sweets match" in clean.output
    with app.app_context():
        db.session.execute(text("UPDATE sweets SET quantity = quantity + 1 WHERE id = 3"))
        db.session.commit()
    broken = runner.invoke(args=["audit-stock"])
    assert broken.exit_code == 1
    assert "sweet 3: quantity 61 but ledger sums to 60" in broken.stderr


def test_audit_stock_fails_on_a_lost_ledger_row(app, runner):
    runner.invoke(args=["seed-demo"])
    with app.app_context():
        db.session.execute(text("DELETE FROM stock_movements WHERE sweet_id = 1"))
        db.session.commit()
    result = runner.invoke(args=["audit-stock"])
    assert result.exit_code == 1 and "sweet 1: quantity 40 but ledger sums to 0" in result.stderr


@pytest.mark.slow
def test_operator_commands_as_real_processes(backend, tmp_path):
    """What an operator types, end to end: upgrade, admin, demo data, audit (exit codes)."""
    with migrated_database(backend, tmp_path) as url:
        env = server_env(url)
        made = flask_cli(env, "create-admin", "boss", "--password-stdin", input="long-password\n")
        assert made.returncode == 0, made.stderr
        seeded = flask_cli(env, "seed-demo")
        assert seeded.returncode == 0, seeded.stderr
        assert flask_cli(env, "audit-stock").returncode == 0
        engine = create_engine(url)
        with engine.begin() as connection:
            assert connection.scalar(text("SELECT count(*) FROM sweets")) == len(DEMO_SWEETS)
            connection.execute(text("UPDATE sweets SET quantity = 0 WHERE id = 1"))
        engine.dispose()
        audit = flask_cli(env, "audit-stock")
        assert audit.returncode == 1 and "sweet 1: quantity 0 but ledger sums to 40" in audit.stderr
