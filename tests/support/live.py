"""Helpers for tests that load a live server from many client threads at once."""
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

CLIENTS = 32


def run_together(calls, clients=CLIENTS):
    """Run the zero-argument ``calls`` from ``clients`` threads; the first wave is released at once.

    Returns the results in order.
    """
    wave = min(len(calls), clients)
    barrier = threading.Barrier(wave)

    def start(numbered):
        index, call = numbered
        if index < wave:
            barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(start, enumerate(calls)))


def post(server, path, headers=None, **kwargs):
    """POST to a live server: ``(status, JSON body or None)``."""
    response = requests.post(server.base + path, headers=headers, timeout=60, **kwargs)
    return response.status_code, response.json() if response.content else None


def new_sweet(server, quantity, category="Race"):
    """A fresh sweet with ``quantity`` in stock, added by ``server.admin``; returns its id."""
    status, sweet = post(server, "/api/sweets", server.admin, json={
        "name": f"{category} {random.random()}", "category": category, "price": 1.25,
        "quantity": quantity})
    assert status == 201
    return sweet["id"]
