"""Prometheus metrics at ``GET /metrics``, summed over every worker process.

A production server runs several worker processes, each with its own counters. The
Prometheus client's multiprocess mode makes them add up: when the environment variable
``PROMETHEUS_MULTIPROC_DIR`` names a directory, every process writes its values to files
there and ``/metrics`` reads all of them. This is the server's business, not the app's, so it
works the same under gunicorn, granian or anything else that forks workers; the recipe:

- point ``PROMETHEUS_MULTIPROC_DIR`` at an empty directory writable by the workers, and empty
  it before each start of the server (stale files would add a previous run's counts);
- nothing else: these metrics are counters and histograms only, whose values a dead worker
  must keep contributing (a counter never goes down), so no worker-exit hook is needed.
  (``multiprocess.mark_process_dead`` matters only for live gauges, which we do not use.)

Without the variable (``flask run``, the in-process tests) each process counts for itself.

``/metrics`` is not public: it answers only a request with ``Authorization: Bearer
<METRICS_TOKEN>``. With no token configured, or a wrong one, it answers 404, as for any page
that does not exist, so a scanner learns nothing.
"""
import hmac
import os
import time

from flask import abort, current_app, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram,
                               generate_latest, multiprocess)

http_requests = Counter("sweetshop_http_requests", "HTTP requests answered, by endpoint, method and status",
                        ["endpoint", "method", "status"])
http_latency = Histogram("sweetshop_http_request_duration_seconds", "Time to answer an HTTP request",
                         ["endpoint", "method"])
units_sold = Counter("sweetshop_units_sold", "Units sold, by single purchases and order lines alike")
orders_placed = Counter("sweetshop_orders_placed", "Orders placed")
orders_cancelled = Counter("sweetshop_orders_cancelled", "Orders cancelled")
purchases_refused = Counter("sweetshop_purchases_refused_for_stock",
                            "Purchases refused because too few units were left")
logins_throttled = Counter("sweetshop_logins_throttled", "Login attempts refused by the throttle (429)")
database_unavailable = Counter("sweetshop_database_unavailable",
                               "Requests answered 503 because the database was unreachable")


# What the domain calls: plain functions, so callers need not know the metric objects.

def record_units_sold(units):
    """Count ``units`` sold; called after the commit of a purchase or an order."""
    units_sold.inc(units)


def record_order_placed():
    orders_placed.inc()


def record_order_cancelled():
    orders_cancelled.inc()


def record_purchase_refused():
    purchases_refused.inc()


def record_login_throttled():
    logins_throttled.inc()


def record_database_unavailable():
    database_unavailable.inc()


def _registry():
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
    g.skip_metrics = True  # a scrape is not traffic: N requests to the shop read as N
    return generate_latest(_registry()), 200, {"Content-Type": CONTENT_TYPE_LATEST}


def _count_request(response):
    if not g.get("skip_metrics"):
        endpoint = request.endpoint or "unmatched"  # unknown URLs share one label, not one each
        http_requests.labels(endpoint, request.method, str(response.status_code)).inc()
        started = g.get("request_started")
        if started is not None:
            http_latency.labels(endpoint, request.method).observe(time.perf_counter() - started)
    return response


def init_app(app):
    app.add_url_rule("/metrics", "metrics", metrics_view)
    app.after_request(_count_request)
