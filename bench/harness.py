"""The tests' live-server harness, as the bench uses it: the one place bench imports from ``tests/``.

The bench serves the shop and its references exactly as the live tests do, so it takes their
harness rather than a copy. ``tests`` is reached as a namespace package from the checkout, which
the environment's path holds (``make install`` puts it there).
"""
from tests.support.harness import (  # noqa: F401
    SHOP, TEST_PASSWORD, LiveServer, libpq_url, migrated_database, postgres_error, server_env,
    server_environment)
