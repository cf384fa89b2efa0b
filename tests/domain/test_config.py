"""Settings: production by default, read when the app is made, the secret check, database URLs as
operators write them, the SQLite default."""
import os
import subprocess
import sys

import pytest
from flask import Flask
from sqlalchemy import create_engine, inspect, text

from config import database_url
from support.harness import ROOT, fresh_database
from support.shop import require_backend
from sweetshop import create_app
from sweetshop.extensions import db


def run_python(code, **env_changes):
    """Run ``code`` in a fresh interpreter, as the server or flask would import the app."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("SECRET_KEY", "SWEETSHOP_SECRET_KEY", "SWEETSHOP_CONFIG", "DATABASE_URL")}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


# --- SECRET_KEY --------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("environment", [None, "production"])
@pytest.mark.parametrize("secret", [None, ""])
def test_production_refuses_to_start_without_a_secret_key(tmp_path, secret, environment):
    """Production is also what runs when SWEETSHOP_CONFIG is not set at all."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite"}
    if environment is not None:
        env["SWEETSHOP_CONFIG"] = environment
    if secret is not None:
        env["SECRET_KEY"] = secret
    result = run_python("import wsgi", **env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    # ... and says how to make one.
    assert "python -c 'import secrets; print(secrets.token_hex(32))'" in result.stderr


def test_without_sweetshop_config_the_settings_are_production_read_when_the_app_is_made(
        monkeypatch, tmp_path):
    monkeypatch.delenv("SWEETSHOP_CONFIG")
    monkeypatch.delenv("SWEETSHOP_SECRET_KEY", raising=False)
    monkeypatch.delenv("SWEETSHOP_SQLALCHEMY_DATABASE_URI", raising=False)
    # Set after every import: only create_app() reads the environment.
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("DATABASE_URL", "postgresql://shop@db.internal/sweetshop")
    app = create_app()
    assert app.config["CONFIG"] == "production"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg2://shop@db.internal/sweetshop"


def test_a_sweetshop_name_wins_over_the_conventional_one(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "conventional")
    monkeypatch.setenv("SWEETSHOP_SECRET_KEY", "specific")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/conventional.sqlite")
    monkeypatch.setenv("SWEETSHOP_SQLALCHEMY_DATABASE_URI", f"sqlite:///{tmp_path}/specific.sqlite")
    app = create_app()
    assert app.config["SECRET_KEY"] == "specific"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/specific.sqlite"


def test_development_must_be_asked_for_and_keeps_its_public_key(monkeypatch, tmp_path):
    monkeypatch.setenv("SWEETSHOP_CONFIG", "development")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SWEETSHOP_SECRET_KEY", raising=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite"})
    assert app.config["SECRET_KEY"] == "dev-only-not-secret"
    assert not app.config.get("SESSION_COOKIE_SECURE")


def test_an_unknown_environment_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("SWEETSHOP_CONFIG", "prod")
    with pytest.raises(RuntimeError, match="must be one of development, testing, production, not 'prod'"):
        create_app()


@pytest.mark.slow
def test_production_starts_with_a_secret_key(tmp_path):
    result = run_python("import wsgi; print(wsgi.app.config['SESSION_COOKIE_SECURE'])",
                        SWEETSHOP_CONFIG="production", SECRET_KEY="s" * 32,
                        DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


# --- database URLs -----------------------------------------------------------------------

@pytest.mark.parametrize("given, expected", [
    ("postgresql://u:p@db:5432/shop", "postgresql+psycopg2://u:p@db:5432/shop"),
    ("postgres://u:p@db/shop", "postgresql+psycopg2://u:p@db/shop"),
    ("postgresql+psycopg2://u@db/shop", "postgresql+psycopg2://u@db/shop"),
    ("sqlite:////var/lib/shop.sqlite", "sqlite:////var/lib/shop.sqlite"),
    (None, None),
    ("", None),
])
def test_database_url_maps_plain_postgres_urls_to_psycopg2(given, expected):
    assert database_url(given) == expected


@pytest.fixture
def plain_postgres_url(tmp_path):
    """A fresh PostgreSQL database as an operator writes its URL: ``postgresql://...``."""
    require_backend("postgresql")
    with fresh_database("postgresql", tmp_path) as url:
        yield url.replace("postgresql+psycopg2://", "postgresql://", 1)


@pytest.mark.slow
@pytest.mark.postgres_only
def test_plain_postgresql_database_url_works_as_written(plain_postgres_url):
    env = {key: value for key, value in os.environ.items() if key != "SWEETSHOP_CONFIG"}
    env.update(DATABASE_URL=plain_postgres_url, SECRET_KEY="s" * 32)
    upgrade = subprocess.run([sys.executable, "-m", "flask", "--app", "sweetshop", "db", "upgrade"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert upgrade.returncode == 0, upgrade.stderr
    engine = create_engine(database_url(plain_postgres_url))
    with engine.connect() as connection:
        assert "sweets" in inspect(connection).get_table_names()
    engine.dispose()


@pytest.mark.postgres_only
@pytest.mark.parametrize("scheme", ["postgresql://", "postgres://"])
def test_plain_postgres_url_in_a_sweetshop_setting_works(plain_postgres_url, scheme):
    url = plain_postgres_url.replace("postgresql://", scheme, 1)
    app = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        assert db.engine.url.drivername == "postgresql+psycopg2"
        assert db.session.scalar(text("SELECT 1")) == 1
        db.session.remove()
        db.engine.dispose()


# --- the embedded default ----------------------------------------------------------------

def test_default_is_sqlite_in_the_instance_folder_tuned_for_several_processes(monkeypatch, tmp_path):
    instance = tmp_path / "instance"
    # Stand-in for the project's own instance/ folder, which a developer's shop may be using.
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(instance))
    app = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": None})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance}/sweetshop.sqlite"
    with app.app_context():
        with db.engine.connect() as connection:
            pragma = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                      for name in ("journal_mode", "foreign_keys", "busy_timeout")}
        db.engine.dispose()
    assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000}
    assert (instance / "sweetshop.sqlite").exists()


def test_any_setting_can_come_from_a_sweetshop_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("SWEETSHOP_TOKEN_TTL_SECONDS", "3600")
    app = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite"})
    assert app.config["TOKEN_TTL_SECONDS"] == 3600


def test_the_sqlite_busy_timeout_is_a_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("SWEETSHOP_SQLITE_BUSY_TIMEOUT_SECONDS", "7")
    app = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite"})
    with app.app_context():
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 7000
        db.engine.dispose()


@pytest.mark.parametrize("value, pre_ping", [(None, True), ("false", False), ("true", True)])
def test_pool_pre_ping_is_a_setting(monkeypatch, tmp_path, value, pre_ping):
    if value is not None:
        monkeypatch.setenv("SWEETSHOP_POOL_PRE_PING", value)
    app = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite"})
    with app.app_context():
        assert db.engine.pool._pre_ping is pre_ping
        db.engine.dispose()


# --- the command line needs no SECRET_KEY ---------------------------------------------------

def run_flask(tmp_path, *args, stdin=None):
    """``flask --app sweetshop ARGS`` as the README writes it: production settings (no
    SWEETSHOP_CONFIG), no SECRET_KEY, the default SQLite database of the checkout's instance
    folder (here a copy's, through DATABASE_URL)."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("SECRET_KEY", "SWEETSHOP_SECRET_KEY", "SWEETSHOP_CONFIG", "DATABASE_URL")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/shop.sqlite"
    return subprocess.run([sys.executable, "-m", "flask", "--app", "sweetshop", *args], cwd=ROOT, env=env,
                          input=stdin, capture_output=True, text=True, timeout=120)


def test_commands_that_sign_nothing_run_without_a_secret_key_in_production(tmp_path):
    steps = [(["db", "upgrade"], None, ""), (["seed-demo"], None, "Added 12 demo sweets."),
             (["create-admin", "boss", "--password-stdin"], "correct horse 1\n", "Admin boss created."),
             (["audit-stock"], None, "Stock audit clean: 12 sweets match their ledger."),
             (["import-sweets", str(tmp_path / "delivery.csv"), "--dry-run"], None,
              "would apply 1 new sweet,"),
             (["purge-tokens"], None, "Deleted 0 expired tokens."),
             (["backup", str(tmp_path / "copy.sqlite")], None, "Backed up")]
    (tmp_path / "delivery.csv").write_text("name,category,price\nMint,Mints,0.40\n")
    for args, stdin, says in steps:
        result = run_flask(tmp_path, *args, stdin=stdin)
        assert result.returncode == 0, (args, result.stderr[-2000:])
        assert says in result.stdout, (args, result.stdout)
        assert "SECRET_KEY" not in result.stderr


def test_flask_run_still_needs_the_secret_key_in_production(tmp_path):
    result = run_flask(tmp_path, "run", "--port", "1")
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr
