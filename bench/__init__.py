"""``make bench``: the shop's purchase path and orders measured against references on PostgreSQL.

Run it as ``python -m bench`` (the whole run; ``--help`` lists the options) and the instruction count
alone as ``python -m bench.instructions``. The modules:

- ``run``: the command line and the order of the scenarios;
- ``scenarios``: what is served, what load is sent and what is checked after each run;
- ``reference``: the benchmark-only reference apps (bare, FOR UPDATE, lean conditional UPDATE);
- ``instructions``: instructions per purchase and per order, counted by valgrind's callgrind;
- ``netdelay``: a TCP proxy that puts the database "across a network";
- ``catalogue``: sweets loaded straight into PostgreSQL;
- ``report``: docs/BENCHMARKS.md from one run's results (layout in ``report.md.j2``);
- ``common``: settings, the plan of a run and the load generators (wrk, pgbench);
- ``harness``: the tests' live-server harness, the one place bench imports from ``tests/``.
"""
