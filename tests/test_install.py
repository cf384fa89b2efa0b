"""Installable: the wheel ``pip install .`` builds carries the migrations and no top-level module
but ``sweetshop``, and ``flask --app sweetshop db upgrade`` works from it, away from the repository.

The wheel is installed with ``--no-deps --target`` into a temporary folder and run by this
interpreter (whose environment has the dependencies), which keeps the test to seconds; the
repository's own copy is kept out of reach by running from another folder.
"""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                             "--no-build-isolation", "--wheel-dir", str(out), str(ROOT)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    [built] = out.glob("sweetshop-*.whl")
    return built


def test_the_wheel_holds_the_package_with_its_migrations_and_nothing_else(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"sweetshop"}  # no `config`, no `wsgi`, no `tests`
    for needed in ("migrations/alembic.ini", "migrations/env.py", "migrations/script.py.mako",
                   "migrations/versions/0001_initial_schema.py", "serve.py", "config.py",
                   "templates/base.html"):
        assert f"sweetshop/{needed}" in names


def test_db_upgrade_works_from_the_installed_package(wheel, tmp_path):
    target = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                             "--target", str(target), str(wheel)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    database = tmp_path / "shop.sqlite"
    env = {key: value for key, value in os.environ.items() if not key.startswith("SWEETSHOP_")}
    env.update(PYTHONPATH=str(target), SECRET_KEY="install-test", DATABASE_URL=f"sqlite:///{database}")
    where = subprocess.run([sys.executable, "-c", "import sweetshop; print(sweetshop.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(target), where.stdout + where.stderr
    upgrade = subprocess.run([sys.executable, "-m", "flask", "--app", "sweetshop", "db", "upgrade"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert upgrade.returncode == 0, upgrade.stderr
    engine = create_engine(f"sqlite:///{database}")
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"sweets", "stock_movements", "users", "api_tokens", "alembic_version"} <= tables
