"""bench/netdelay.py, the bench's "database across a network": every byte arrives, in order, late."""
import os
import socket
import threading
import time

from bench.netdelay import NetDelay

DELAY_MS = 20  # large enough that the lower bound below cannot pass by accident


class Peer:
    """A TCP server that accepts one connection, sends ``payload`` and reads until end of stream."""

    def __init__(self, payload):
        self.payload, self.received = payload, bytearray()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        connection, _ = self.listener.accept()
        with connection:
            sender = threading.Thread(target=_send_and_close, args=(connection, self.payload))
            sender.start()
            _read_all(connection, self.received)
            sender.join()
        self.listener.close()


def _send_and_close(sock, payload):
    # Uneven pieces, so the proxy sees chunks of many sizes.
    view, step = memoryview(payload), 1
    while view:
        sock.sendall(view[:step])
        view, step = view[step:], step * 3 % 70_001 + 1
    sock.shutdown(socket.SHUT_WR)


def _read_all(sock, into):
    while data := sock.recv(65536):
        into += data


def test_bytes_arrive_whole_and_in_order_both_ways_at_once():
    to_client, to_server = os.urandom(3_000_000), os.urandom(2_000_000)
    peer = Peer(to_client)
    received = bytearray()
    with NetDelay("127.0.0.1", peer.port, delay_ms=0.5) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as client:
            sender = threading.Thread(target=_send_and_close, args=(client, to_server))
            sender.start()
            _read_all(client, received)
            sender.join()
        peer.thread.join(timeout=30)
    assert bytes(received) == to_client
    assert bytes(peer.received) == to_server


def test_a_round_trip_takes_at_least_the_delay_both_ways():
    listener = socket.create_server(("127.0.0.1", 0))

    def echo():
        connection, _ = listener.accept()
        with connection:
            while data := connection.recv(1024):
                connection.sendall(data)

    threading.Thread(target=echo, daemon=True).start()
    with NetDelay("127.0.0.1", listener.getsockname()[1], delay_ms=DELAY_MS) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as client:
            round_trips = []
            for n in range(5):
                started = time.perf_counter()
                client.sendall(bytes([n]))
                assert client.recv(1) == bytes([n])
                round_trips.append(time.perf_counter() - started)
    listener.close()
    assert min(round_trips) >= 2 * DELAY_MS / 1000
