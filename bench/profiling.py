"""Where a Sweetshop purchase spends its time: py-spy on a live worker, and Python CPU in process.

The live profile charges each py-spy sample of one worker (under the hot-row load) to a piece
of work by matching its frames; the in-process numbers come from bench/cpu_per_request.py.
"""
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import common
from common import CONNECTIONS, log
from cpu_per_request import measure as measure_in_process
from scenarios import SWEETSHOP


def profile(shop, plan):
    """The live profile (wall and CPU time of one worker) and the in-process Python CPU per
    request; None when py-spy is missing or may not sample (it needs ptrace permission)."""
    wall = _stacks(shop, plan.profile_seconds, idle=True)
    cpu = wall and _stacks(shop, plan.profile_seconds, idle=False)
    if not cpu:
        return None
    log("Python CPU per request, in process")
    return {"wall": _summarise(wall, WALL_BUCKETS, innermost=True),
            "cpu": _summarise(cpu, CPU_OWNERS, innermost=False),
            "per_request": measure_in_process(plan.cpu_requests)}


def _stacks(shop, seconds, idle):
    """py-spy stacks of one Sweetshop worker under the 32-connection hot-row load.

    With ``idle`` every sample counts (wall time); without, only samples where the worker
    was running Python (its CPU time).
    """
    pid = shop.server(SWEETSHOP).worker_pids()[0]
    if not (Path(sys.executable).parent / "py-spy").exists():
        # make bench installs it (the "bench" extra); a bare bench/run.py may lack it.
        log("  py-spy is not installed: no profile (pip install -e '.[bench]')")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "stacks.txt"
        args = [str(Path(sys.executable).parent / "py-spy"), "record", "--rate", "250", "--format", "raw",
                "--duration", str(seconds), "--pid", str(pid), "--output", str(out)]
        args += ["--idle"] if idle else []
        common.record("py-spy" + (" --idle" if idle else ""), ["py-spy", *args[1:]],
                      (out, "$OUT"), (pid, "$ONE_SHOP_WORKER"))
        spy = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        shop.measure(SWEETSHOP, CONNECTIONS, seconds + 1)
        try:
            spy.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()
        error = spy.stderr.read().decode()
        spy.stderr.close()
        if not out.exists():
            log(f"  py-spy could not sample (needs ptrace permission): {error.strip()[-300:]}")
            return None
        stacks = Counter()
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            stacks[stack] += int(count)
    return stacks


# Wall time: the first rule matching a frame, looking from the innermost frame out.
WALL_BUCKETS = [
    ("waiting for the next request (server accept/select)", ("wait (gunicorn", "accept (gunicorn",
                                                             "select (selectors", "granian/")),
    ("waiting for the database (execute, commit, pool pre-ping)",
     ("do_execute", "do_commit", "do_ping", "do_rollback")),
    ("SQLAlchemy", ("sqlalchemy/",)),
    ("Sweetshop code", ("sweetshop/",)),
    ("Flask, Werkzeug and extensions", ("flask/", "werkzeug/", "flask_")),
    ("server HTTP parsing and socket I/O (granian's is in Rust, unseen)", ("gunicorn/", "granian/")),
]
# CPU time: who asked for it. The first rule matching any frame of the stack wins, so a
# rule names the outermost piece of work a sample belongs to.
CPU_OWNERS = [
    ("Flask-Limiter's per-request hooks (login throttling's limiter)", ("flask_limiter/",)),
    ("JSON log lines (request line, stock-change line)", ("observability.py", "logging/", "_log_change")),
    # Before the token lookup, whose first statement is what checks a connection out of the pool.
    ("pool checkout, pre-ping and return (SQLAlchemy pool)", ("_checkout (sqlalchemy/pool", "do_ping (",
                                                              "_checkin (sqlalchemy/pool")),
    ("bearer token lookup (accounts.user_for_token: one token-and-user query)", ("user_for_token",)),
    ("sale + ledger statement (inventory._sell)", ("_sell (sweetshop",)),
    ("commit (Session.commit)", ("commit (sqlalchemy/orm",)),
    ("request body, validation, idempotency key, response JSON",
     ("json_body", "clean_fields", "_idempotency_key", "sweet_json", "make_response", "jsonify")),
    ("security headers", ("security.py",)),
    ("session teardown and other Flask-SQLAlchemy", ("flask_sqlalchemy/", "scoping.py")),
    ("Flask / Werkzeug request handling", ("flask/", "werkzeug/", "flask_login/", "flask_wtf/")),
    ("server HTTP parsing and socket I/O (granian's is in Rust, unseen)", ("gunicorn/", "granian/")),
]


def _summarise(stacks, rules, innermost):
    total = sum(stacks.values())
    buckets = Counter()
    for stack, count in stacks.items():
        frames = stack.split(";")
        if innermost:
            owner = next((name for frame in reversed(frames) for name, marks in rules
                          if any(mark in frame for mark in marks)), None)
        else:
            owner = next((name for name, marks in rules
                          if any(mark in frame for frame in frames for mark in marks)), None)
        buckets[owner or "other (interpreter, stdlib)"] += count
    return {"samples": total, "buckets": [(name, 100 * n / total) for name, n in buckets.most_common()]}
