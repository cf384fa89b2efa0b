"""The bench's report: one run's results rendered through bench/report.md.j2.

A full run writes docs/BENCHMARKS.md (keeping its hand-written part); a quick or partial run
writes it to bench/results/ (git-ignored), so smoke runs never replace committed results.
"""
import os
import platform
import re
import sys
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from . import common, instructions
from .common import BENCH, CONNECTIONS, ROOT, log, run
from .scenarios import BARE, FOR_UPDATE, LEAN, PGBENCH, SWEETSHOP

DOCS = ROOT / "docs"
SCRATCH = BENCH / "results"
KEEP_MARKER = "<!-- Everything below this line is hand-written; make bench keeps it. -->"


def machine(load_at_start):
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024

    def version(*args):
        lines = run(args, 10).stdout.strip().splitlines()
        return lines[0] if lines else "?"

    wrk = version("sh", "-c", "wrk --version 2>&1 | head -1").split(" Copyright")[0]
    return (f"{os.cpu_count()} × {cpu}, {memory} GiB RAM, Linux {platform.release()}, "
            f"Python {platform.python_version()}, {version('psql', '--version')} "
            f"(fsync and synchronous_commit on), "
            f"granian {version(sys.executable, '-m', 'granian', '--version')}, "
            f"{wrk}; 1-minute load average {load_at_start:.2f} at the start, {os.getloadavg()[0]:.2f} at "
            "the end (anything else running shares these cores)")


def _num(value, digits=0):
    return f"{value:,.{digits}f}"


def _ledger_note(name, stats):
    note = "yes" if stats["consistent"] else "**NO**"
    if name == BARE.name:
        return "stock = 200s: " + note
    if name == PGBENCH.name:
        return "stock = transactions: " + note
    return note


def _short(name):
    """"(a)" for "bare reference (a)"."""
    return name[name.rfind("("):] if name.endswith(")") else name


def _met(ok):
    return "yes" if ok else "**no**"


def _round_ratios(table, reference):
    """Sweetshop's throughput over ``reference``'s in each round (the two ran seconds apart), as
    "(rounds: 1.21 / 0.98 / …)": how far the machine's drift moved the median ratio."""
    pairs = zip(table[SWEETSHOP.name]["each_rps"], table[reference]["each_rps"])
    return "(rounds: " + " / ".join(f"{shop / max(other, 1):.2f}" for shop, other in pairs) + ")"


def targets(results):
    """``(target, measured, met)`` rows for the shop's speed targets; a scenario not run says so."""
    rows = []
    hot, network, orders, catalogue = (results.get(k) for k in ("hot", "network", "orders", "catalogue"))
    if hot:
        shop = hot[SWEETSHOP.name]
        vs_c, vs_a = shop["rps"] / hot[FOR_UPDATE.name]["rps"], shop["rps"] / hot[BARE.name]["rps"]
        rows += [
            ("hot row, 32 connections: Sweetshop ≥ 1.15 × FOR UPDATE (c)",
             f"{vs_c:.2f}× {_round_ratios(hot, FOR_UPDATE.name)}", _met(vs_c >= 1.15)),
            ("hot row, 32 connections: Sweetshop ≥ 0.75 × bare reference (a)",
             f"{vs_a:.2f}× {_round_ratios(hot, BARE.name)}", _met(vs_a >= 0.75)),
            ("hot row p99 ≤ 100 ms", f"{shop['p99_ms']:.1f} ms", _met(shop["p99_ms"] <= 100)),
        ]
    purchase_runs = [table[SWEETSHOP.name] for table in (hot, network and network["results"]) if table]
    if purchase_runs:
        errors = sum(s["non_2xx"] for s in purchase_runs)
        consistent = all(s["consistent"] for s in purchase_runs)
        rows += [("zero non-2xx from Sweetshop while stock lasts (every purchase scenario)", str(errors),
                  _met(errors == 0)),
                 ("stock = ledger = Sweetshop's 200s after every run", "yes" if consistent else "NO",
                  _met(consistent))]
    if network:
        table = network["results"]
        ratio = table[SWEETSHOP.name]["rps"] / table[FOR_UPDATE.name]["rps"]
        rows.append((f"across a network ({network['delay_ms']} ms each way): Sweetshop ≥ 2 × (c)",
                     f"{ratio:.2f}× ({table[SWEETSHOP.name]['rps']:,.0f} against "
                     f"{table[FOR_UPDATE.name]['rps']:,.0f} sales/s) {_round_ratios(table, FOR_UPDATE.name)}",
                     _met(ratio >= 2)))
    if orders and orders.get("skipped"):
        rows.append(("orders: zero 5xx, zero deadlocks, stock = ledger", "not run: " + orders["skipped"],
                     "—"))
    elif orders:
        ok = orders["server_errors"] == 0 and orders["deadlocks"] == 0 and orders["consistent"]
        rows.append(("orders: zero 5xx, zero deadlocks, stock = ledger",
                     f"{orders['server_errors']} 5xx, {orders['deadlocks']} deadlocks, stock = ledger "
                     f"{'yes' if orders['consistent'] else 'NO'} ({orders['rps']:,.0f} orders/s, "
                     f"p99 {orders['p99_ms']:.1f} ms)", _met(ok)))
    if catalogue:
        searches = {k: v for k, v in catalogue["results"].items() if not k.startswith("deep")}
        worst = max(v["p95_ms"] for v in searches.values())
        rows.append((f"catalogue search p95 ≤ 25 ms at {catalogue['sweets']:,} sweets (worst kind of search)",
                     f"{worst:.1f} ms", _met(worst <= 25)))
    return rows


def write(results, complete):
    """Render ``results``; into docs/ when ``complete`` (a full run of every scenario), else into
    bench/results/. Returns the report's path."""
    directory = DOCS if complete else SCRATCH
    directory.mkdir(exist_ok=True)
    env = Environment(loader=FileSystemLoader(BENCH), undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["num"] = _num
    env.globals.update(ledger_note=_ledger_note, short=_short, SWEETSHOP=SWEETSHOP.name, BARE=BARE.name,
                       FOR_UPDATE=FOR_UPDATE.name, LEAN=LEAN.name, PGBENCH=PGBENCH.name,
                       ORDER=instructions.ORDER, ORDER_WITH_MAIL=instructions.ORDER_WITH_MAIL)
    context = {key: results.get(key) for key in
               ("hot", "network", "orders", "login_flood", "catalogue", "instructions")}
    context.update(
        started=f"{results['started']:%Y-%m-%d %H:%M}", plan=results["plan"],
        machine=machine(results["load"]),
        duration_minutes=results["duration_seconds"] / 60, workers=common.WORKERS, threads=common.THREADS,
        levers=results["levers"], ab=results["ab"], targets=targets(results), connections=CONNECTIONS,
        command_line=results["command_line"], commands=common.commands)
    text = env.get_template("report.md.j2").render(context)
    # Markdown wants a blank line around each heading and table; the template's optional sections
    # leave one too many or too few, so even them out here rather than in every {% if %}.
    text = re.sub(r"\n{3,}", "\n\n", re.sub(r"([^\n])\n(## )", r"\1\n\n\2", text))
    report = directory / "BENCHMARKS.md"
    kept = ""
    committed = DOCS / "BENCHMARKS.md"
    if committed.exists() and KEEP_MARKER in committed.read_text():
        kept = committed.read_text().split(KEEP_MARKER, 1)[1]
    report.write_text(text.rstrip("\n") + "\n\n" + KEEP_MARKER + kept)
    log(f"wrote {report.relative_to(ROOT)}")
    return report
