"""A TCP proxy that delays every chunk by a fixed time each way: a database "across a network".

The kernel here has no ``netem``, so the bench puts this between the app and PostgreSQL.
Each direction of each connection is a FIFO queue of ``(due time, bytes)``: a reader task
stamps every chunk it reads with ``now + delay`` and a writer task sleeps until each chunk
is due, then writes it. Bytes are never dropped, split differently or reordered; an end
of stream is passed on (half-close) once everything before it is written.

asyncio's timers are not sub-millisecond precise: a 0.5 ms delay each way makes a
``SELECT 1`` round trip of about 2.4 ms here. Every variant in the bench pays the same.

Run it on its own: ``python bench/netdelay.py --target 127.0.0.1:5432 --delay-ms 0.5``
(prints ``LISTENING <port>`` once ready), or from Python::

    with NetDelay("127.0.0.1", 5432, delay_ms=0.5) as proxy:
        ...  # connect to 127.0.0.1:proxy.port
"""
import argparse
import asyncio
import subprocess
import sys
from pathlib import Path

CHUNK = 64 * 1024
QUEUE_CHUNKS = 256  # bounds memory: a full queue makes the reader wait, it never drops
END = None  # queued after the last chunk of a direction


async def _read_into(reader, queue, delay):
    loop = asyncio.get_running_loop()
    try:
        while data := await reader.read(CHUNK):
            await queue.put((loop.time() + delay, data))
    except ConnectionError:
        pass  # the sender went away: what was read so far is still delivered
    finally:
        await queue.put((loop.time() + delay, END))


async def _write_from(queue, writer):
    """Write each chunk at its due time, in order; half-close after the last one."""
    loop = asyncio.get_running_loop()
    while True:
        due, data = await queue.get()
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        if data is END:
            if writer.can_write_eof():
                writer.write_eof()
            return
        writer.write(data)
        await writer.drain()


async def _handle(client_reader, client_writer, target, delay):
    try:
        server_reader, server_writer = await asyncio.open_connection(*target)
    except OSError:
        client_writer.close()
        return
    try:
        # A task group: when one side resets, the other tasks are cancelled, not left waiting.
        async with asyncio.TaskGroup() as group:
            for reader, writer in ((client_reader, server_writer), (server_reader, client_writer)):
                queue = asyncio.Queue(QUEUE_CHUNKS)
                group.create_task(_read_into(reader, queue, delay))
                group.create_task(_write_from(queue, writer))
    except* ConnectionError:
        pass  # one side reset the connection: close both below
    finally:
        for writer in (client_writer, server_writer):
            writer.close()


async def serve(target, delay_ms, port=0, ready=None):
    """Proxy 127.0.0.1:``port`` (0: any free port) to ``target`` (host, port) until cancelled.

    ``ready(port)`` is called once the port is listening.
    """
    delay = delay_ms / 1000

    async def handle(reader, writer):
        await _handle(reader, writer, target, delay)

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        if ready is not None:
            ready(server.sockets[0].getsockname()[1])
        await server.serve_forever()


class NetDelay:
    """The proxy in a child process of its own (so it does not share this process's CPU time).

    A context manager: ``port`` is where to connect while it is open.
    """

    def __init__(self, host, port, delay_ms=0.5):
        self.target, self.delay_ms = (host, port), delay_ms
        self.process = self.port = None

    def __enter__(self):
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--target", f"{self.target[0]}:{self.target[1]}",
             "--delay-ms", str(self.delay_ms)], stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("LISTENING "):
            self.__exit__()
            raise RuntimeError(f"netdelay did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def __exit__(self, *exc_info):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="host:port to forward to")
    parser.add_argument("--delay-ms", type=float, default=0.5, help="added each way (default 0.5)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any free one)")
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    try:
        asyncio.run(serve((host, int(port)), args.delay_ms, args.port,
                          ready=lambda bound: print(f"LISTENING {bound}", flush=True)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
