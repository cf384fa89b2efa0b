"""Prometheus metrics at ``GET /metrics``, summed over every worker process.

A production server runs several worker processes, each with its own counters. The
Prometheus client's multiprocess mode makes them add up: when the environment variable
``PROMETHEUS_MULTIPROC_DIR`` names a directory, every process writes its values to files
there and ``/metrics`` reads all of them. The client decides on that mode when it is imported
(and each metric when it is made), so this module imports it, and makes the metrics, only at
their first use, in a worker, never when ``sweetshop`` is imported.

``python -m sweetshop.serve`` (sweetshop/serve.py) does the server's part before granian starts
its workers: it empties the directory named by ``PROMETHEUS_MULTIPROC_DIR`` (stale files would
add a previous run's counts), or, when the variable is unset, makes a fresh directory and sets
the variable, so every worker inherits it. Granian has no hook for a worker's exit, so nothing
calls ``multiprocess.mark_process_dead``: a dead (respawned) worker's files stay until the next
start. That is right for what we keep, counters and histograms, whose values a dead worker must
keep contributing (a counter never goes down); it would matter only for live gauges
(``multiprocess_mode="livesum"`` and the like), which we do not use.

Without the variable (``flask run``, the in-process tests) each process counts for itself.

``/metrics`` is not public: it answers only a request with ``Authorization: Bearer
<METRICS_TOKEN>``. With no token configured, or a wrong one, it answers 404, as for any page
that does not exist, so a scanner learns nothing.
"""
import hmac
import os
import threading
import time
from types import SimpleNamespace

from flask import abort, current_app, g, request


# Any other method a client invents is counted as "other": each label value is a new series
# that every scrape carries for as long as the process lives.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})
_made = None
# A worker's threads (WEB_THREADS) may count their first requests at the same moment. Made twice,
# the metrics would be registered twice and the second registration would raise: a 500 for a
# request whose sale is already committed. functools.cache does not hold other callers back.
_making = threading.Lock()


def _metrics():
    """The metric objects, made once per process at first use (see the module's docstring)."""
    global _made
    if _made is None:
        with _making:
            if _made is None:
                _made = _make_metrics()
    return _made


def _make_metrics():
    from prometheus_client import Counter, Histogram

    return SimpleNamespace(
        http_requests=Counter("sweetshop_http_requests",
                              "HTTP requests answered, by endpoint, method and status",
                              ["endpoint", "method", "status"]),
        http_latency=Histogram("sweetshop_http_request_duration_seconds", "Time to answer an HTTP request",
                               ["endpoint", "method"]),
        units_sold=Counter("sweetshop_units_sold", "Units sold, by single purchases and order lines alike"),
        orders_placed=Counter("sweetshop_orders_placed", "Orders placed"),
        orders_cancelled=Counter("sweetshop_orders_cancelled", "Orders cancelled"),
        purchases_refused=Counter("sweetshop_purchases_refused_for_stock",
                                  "Purchases refused because too few units were left"),
        orders_refused=Counter("sweetshop_orders_refused_for_stock",
                               "Orders refused (whole) because a line asked for more units than were left"),
        logins_throttled=Counter("sweetshop_logins_throttled",
                                 "Login attempts refused by the throttle (429)"),
        database_unavailable=Counter("sweetshop_database_unavailable",
                                     "Requests answered 503 because the database was unreachable"),
    )


# What the domain calls: plain functions, so callers need not know the metric objects.

def record_units_sold(units):
    """Count ``units`` sold by a single purchase; called after its commit."""
    _metrics().units_sold.inc(units)


def record_order_placed(units):
    """Count an order placed and its ``units`` sold (all lines); called after its commit, never
    for an idempotent replay."""
    _metrics().orders_placed.inc()
    _metrics().units_sold.inc(units)


def record_order_cancelled():
    _metrics().orders_cancelled.inc()


def record_purchase_refused():
    _metrics().purchases_refused.inc()


def record_order_refused():
    _metrics().orders_refused.inc()


def record_login_throttled():
    _metrics().logins_throttled.inc()


def record_database_unavailable():
    _metrics().database_unavailable.inc()


def _registry():
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    _metrics()  # a worker scraped before it counted anything still shows every metric, at 0
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def _authorised():
    expected = current_app.config.get("METRICS_TOKEN")
    if not expected:
        return False
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())


def metrics_view():
    if not _authorised():
        abort(404)
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    g.skip_metrics = True  # a scrape is not traffic: N requests to the shop read as N
    return generate_latest(_registry()), 200, {"Content-Type": CONTENT_TYPE_LATEST}


def _count_request(response):
    if not g.get("skip_metrics"):
        endpoint = request.endpoint or "unmatched"  # unknown URLs share one label, not one each
        method = request.method if request.method in METHODS else "other"
        _metrics().http_requests.labels(endpoint, method, str(response.status_code)).inc()
        started = g.get("request_started")
        if started is not None:
            _metrics().http_latency.labels(endpoint, method).observe(time.perf_counter() - started)
    return response


def init_app(app):
    app.add_url_rule("/metrics", "metrics", metrics_view)
    app.after_request(_count_request)
