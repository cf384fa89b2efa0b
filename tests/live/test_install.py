"""Deployed as a checkout: the settings (``config.py``) and ``migrations/`` sit at the repository's top
level, beside the package, so a wheel built from it carries ``sweetshop`` alone (no top-level ``config``
lands in anyone's environment), and the checkout's environment finds both from any working directory.
"""
import os
import subprocess
import sys
import zipfile

import pytest
from sqlalchemy import create_engine, inspect

from support.harness import ROOT

pytestmark = pytest.mark.slow


def test_a_wheel_holds_the_package_and_no_top_level_config(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                             "--no-build-isolation", "--wheel-dir", str(tmp_path), str(ROOT)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    [built] = tmp_path.glob("sweetshop-*.whl")
    names = zipfile.ZipFile(built).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"sweetshop"}  # no `config`, no `migrations`, no `wsgi`, no `tests`
    assert "sweetshop/templates/base.html" in names


def test_db_upgrade_works_from_another_working_directory(tmp_path):
    database = tmp_path / "shop.sqlite"
    env = {key: value for key, value in os.environ.items() if not key.startswith("SWEETSHOP_")}
    env.update(SECRET_KEY="install-test", DATABASE_URL=f"sqlite:///{database}", PYTHONPATH=str(ROOT))
    upgrade = subprocess.run([sys.executable, "-m", "flask", "--app", "sweetshop", "db", "upgrade"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert upgrade.returncode == 0, upgrade.stderr
    engine = create_engine(f"sqlite:///{database}")
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"sweets", "stock_movements", "users", "api_tokens", "alembic_version"} <= tables
