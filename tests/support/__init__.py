"""What the tests share, in one package (``from support.<module> import ...``); bench/ uses the harness.

- ``harness``: fresh databases, the ``flask`` command line, the production server on a free port
  (``LiveServer``), a throwaway PostgreSQL cluster (``Cluster``). No pytest in it.
- ``shop``: the databases the tests run on (``BACKENDS``, ``require_backend``), the in-process
  app's test settings (``make_app``), ``ApiHelper`` (the ``api`` fixture).
- ``live``: many client threads against a live server at once (``run_together``, ``post``, ``new_sweet``).
- ``pages``: the page tests' client that fills in CSRF tokens (``Pages``) and HTML readers.
- ``dbstate``: whole-database snapshots and ledger sums read straight from the database.

The fixtures themselves (``app``, ``client``, ``api``, ``live_server``, ...) are in ``tests/conftest.py``.
"""
from .harness import (CHEAP_HASH, ONE_ADDRESS_FOR_ALL, PG_BIN, POSTGRES_URL, ROOT, SHOP,  # noqa: F401
                      TEST_PASSWORD, Cluster, LiveServer, flask_cli, free_port, fresh_database, libpq_url,
                      migrated_database, postgres_error, server_command, server_env, server_environment)
