"""Live-server harness shared by the tests and the benchmarks (``bench/`` imports it too).

Fresh databases (SQLite file or a new PostgreSQL database, dropped afterwards), the ``flask``
command line as an operator runs it, the production server on a free port (``LiveServer``,
also a context manager), and a throwaway PostgreSQL cluster of our own for fault tests.
Nothing here depends on pytest.
"""
import atexit
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg2
import requests

from config import database_url

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_URL = os.environ.get("SWEETSHOP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
TEST_PASSWORD = "correct horse 1"
# Cheap hashing for test users; production strength has its own test.
CHEAP_HASH = "pbkdf2:sha256:1000"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
# Every test client is 127.0.0.1, so the per-address limits are raised for the suite; the tests
# of those limits (test_throttle.py) set the real values. The per-account limits stay as shipped.
ONE_ADDRESS_FOR_ALL = {"REGISTER_LIMIT_PER_ADDRESS": "1000 per minute",
                       "LOGIN_ATTEMPT_LIMIT_PER_ADDRESS": "1000 per minute"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_error(server=POSTGRES_URL):
    """Why PostgreSQL at ``server`` cannot be reached, or None when it can."""
    try:
        psycopg2.connect(f"{server}/postgres", connect_timeout=3).close()
    except psycopg2.Error as error:
        return str(error).strip()
    return None


@contextmanager
def fresh_database(backend, directory, server=POSTGRES_URL, prefix="sweetshop_test", template=None):
    """A new database of the given kind, empty or a copy of ``template``; yields its SQLAlchemy URL
    and drops it after.

    SQLite: a file in ``directory`` (``template``: a file to copy). PostgreSQL: a new database on
    ``server`` (``template``: a database on it that nobody is connected to).
    """
    if backend == "sqlite":
        path = f"{directory}/sweetshop-{secrets.token_hex(4)}.sqlite"
        if template is not None:
            shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = psycopg2.connect(f"{server}/postgres")
    admin.autocommit = True
    try:
        admin.cursor().execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        yield database_url(f"{server}/{name}")
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def libpq_url(url):
    """The plain ``postgresql://`` form of a SQLAlchemy URL, for psycopg2 and the PostgreSQL tools."""
    return url.replace("postgresql+psycopg2://", "postgresql://", 1)


def server_env(url, **settings):
    """The environment of a production server on ``url``; ``settings`` become SWEETSHOP_<NAME>."""
    env = dict(os.environ, DATABASE_URL=url, SWEETSHOP_CONFIG="production",
               SECRET_KEY="live-test-secret", SWEETSHOP_PASSWORD_HASH_METHOD=CHEAP_HASH,
               SWEETSHOP_SESSION_COOKIE_SECURE="false")
    env.update({f"SWEETSHOP_{key}": value for key, value in ONE_ADDRESS_FOR_ALL.items()})
    # JSON for booleans, as Flask's from_prefixed_env reads them: str(False) would be a true string.
    env.update({f"SWEETSHOP_{key}": json.dumps(value) if isinstance(value, bool) else str(value)
                for key, value in settings.items()})
    return env


def flask_cli(env, *args, input=None):
    """Run ``flask --app sweetshop ARGS`` as an operator would."""
    return subprocess.run([sys.executable, "-m", "flask", "--app", "sweetshop", *args],
                          cwd=ROOT, env=env, input=input, capture_output=True, text=True,
                          timeout=300)


# The first migrated database of each kind in a process, which the later ones copy; dropped (with
# their directory) when the process ends.
_migrated_templates = {}
_templates_cleanup = ExitStack()
atexit.register(_templates_cleanup.close)


@contextmanager
def migrated_database(backend, directory, server=POSTGRES_URL, prefix="sweetshop_test"):
    """A fresh database at the latest schema: a copy of one that ``flask db upgrade`` brought there,
    as an operator does, once in this process. (An upgrade runs every migration in a new Python
    process, about a second; a copy takes milliseconds. tests/domain/test_migrations.py runs
    them on its own databases.)"""
    key = (backend, server)
    if key not in _migrated_templates:
        _migrated_templates[key] = _migrate_template(backend, server)
    with fresh_database(backend, directory, server, prefix, template=_migrated_templates[key]) as url:
        yield url


def _migrate_template(backend, server):
    """A database brought to the latest schema by ``flask db upgrade``; its SQLite path or
    PostgreSQL name."""
    directory = _templates_cleanup.enter_context(tempfile.TemporaryDirectory(prefix="sweetshop-template-"))
    url = _templates_cleanup.enter_context(
        fresh_database(backend, directory, server, prefix="sweetshop_template"))
    result = flask_cli(server_env(url), "db", "upgrade")
    if result.returncode != 0:
        raise RuntimeError("flask db upgrade failed:\n" + result.stderr)
    return url.removeprefix("sqlite:///") if backend == "sqlite" else url.rsplit("/", 1)[1]


# How the production server is started: these two functions are the only place that names it.
SHOP = "sweetshop"  # the shop itself, served exactly as production serves it


def server_command(app, port, workers, threads=1):
    """The command line serving the WSGI ``app`` on 127.0.0.1:``port`` with ``workers`` processes,
    each taking requests on ``threads`` threads.

    The shop (``SHOP``) runs as production runs it, ``python -m sweetshop.serve`` (nginx in front
    of granian, configured from the environment of ``server_environment``); any other ``app``
    ("module:name", the benchmarks' references) under granian alone with the same options.
    """
    if app == SHOP:
        return [sys.executable, "-m", "sweetshop.serve"]
    return [sys.executable, "-m", "granian", "--interface", "wsgi", "--no-ws", "--workers", str(workers),
            "--blocking-threads", str(threads), "--host", "127.0.0.1", "--port", str(port), app]


def server_environment(port, workers, threads=1):
    """What the server's command reads from its environment besides the app's settings."""
    return {"HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": str(workers),
            "WEB_THREADS": str(threads)}


class LiveServer:
    """The production server with several workers serving ``app`` on a free port of 127.0.0.1.

    ``settings`` become the server's SWEETSHOP_<NAME> environment. ``source`` is the checkout
    whose code it serves (the bench's A/B of an older revision); by default this one. Stop it
    with ``stop()``, or use it as a context manager (which also deletes its log file).
    """

    startup_seconds = 30

    def __init__(self, url, workers=4, *, app=SHOP, threads=1, startup_seconds=None, source=ROOT,
                 **settings):
        self.env = server_env(url, **settings)
        self.app, self.workers, self.threads = app, workers, threads
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        if startup_seconds is not None:
            self.startup_seconds = startup_seconds
        # The server's log goes to a file (a pipe nobody reads would fill up and stall it).
        self.log = tempfile.NamedTemporaryFile(prefix="sweetshop-server-", suffix=".log", delete=False)
        self._log_offset = 0
        self.process = subprocess.Popen(
            # ``python -m`` puts its working directory first on sys.path: ``source``'s code runs.
            self.command(), cwd=source, env={**self.env, **server_environment(self.port, workers, threads)},
            stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_until_up(self.startup_seconds)

    def command(self):
        """The command line that starts the server (a subclass may start it another way)."""
        return server_command(self.app, self.port, self.workers, self.threads)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()
        Path(self.log.name).unlink(missing_ok=True)

    def log_text(self):
        return Path(self.log.name).read_text(errors="replace")

    def new_log_lines(self):
        """The complete lines the server logged since the last call."""
        with open(self.log.name, "rb") as log_file:
            log_file.seek(self._log_offset)
            data = log_file.read()
        complete = data[:data.rfind(b"\n") + 1]
        self._log_offset += len(complete)
        return complete.decode(errors="replace").splitlines()

    def worker_pids(self):
        """The server's worker processes (granian's; not the front server, nginx)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        return [int(pid) for pid in children.split()
                if Path(f"/proc/{pid}/comm").read_text().strip() != "nginx"]

    def _wait_until_up(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the server exited:\n" + self.log_text())
            # A generous timeout: the master listens before its workers have booted, so a
            # probe may wait in the backlog; one given up on would still be served and logged.
            try:
                if requests.get(self.base + "/api/health", timeout=max(deadline - time.monotonic(), 1)
                                ).status_code == 200:
                    return
            except requests.RequestException:  # refused (not listening yet), or no answer in time
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the server did not come up:\n" + self.log_text())

    def stop(self):
        """SIGTERM, as an operator's service manager stops it; requests in flight are answered."""
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def cli(self, *args, input=None):
        return flask_cli(self.env, *args, input=input)

    def token(self, username, password=TEST_PASSWORD, admin=False):
        """Headers with a bearer token for a (new or existing) user; admins via the CLI."""
        if admin:
            result = self.cli("create-admin", username, "--password-stdin", input=password + "\n")
            assert result.returncode == 0, result.stderr
        else:
            requests.post(self.base + "/api/auth/register",
                          json={"username": username, "password": password}, timeout=30)
        response = requests.post(self.base + "/api/auth/login",
                                 data={"username": username, "password": password}, timeout=30)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


class MakeServe(LiveServer):
    """The shop started the way operators start it first: ``make serve`` (db upgrade, then
    sweetshop/serve.py), in the virtualenv running these tests."""

    startup_seconds = 120  # make installs first if setup.cfg or constraints.txt changed

    def command(self):
        return ["make", "--no-print-directory", "--silent", "serve", f"VENV={sys.prefix}"]


class Cluster:
    """A throwaway PostgreSQL cluster of our own (never the machine's shared one), run as
    the ``postgres`` user because PostgreSQL refuses to run as root."""

    @staticmethod
    def unavailable():
        """Why no cluster can be made here, or None."""
        if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
            return "PostgreSQL 15 server binaries or runuser not installed"
        return None

    def __init__(self):
        self.directory = Path(tempfile.mkdtemp(prefix="sweetshop-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        shutil.chown(self.directory, "postgres", "postgres")
        self._run(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "--no-sync")

    def _run(self, *args):
        command = ["runuser", "-u", "postgres", "--", *map(str, args)]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self):
        # fsync off: a test cluster need not survive the machine crashing, only the server.
        options = (f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off")
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-o", options, "-l",
                  self.directory / "server.log", "-w", "-t", "30", "start")

    def stop(self, mode="immediate"):
        """``immediate`` drops every connection mid-transaction, like a crash."""
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "30", "stop")

    def url(self, name="postgres"):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def destroy(self):
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, *exc_info):
        self.destroy()
