"""The front server: Debian's nginx, run and supervised by ``python -m sweetshop.serve``.

Granian reads a request's headers before a worker sees it, but not its body: a worker reads the
body itself, with no time limit, so a few connections that announce a body and then stall would
hold every worker. nginx reads each body whole (into memory, or a temporary file when large)
before it passes the request on, and gives up on a body that stops arriving
(``BODY_READ_TIMEOUT_SECONDS``, answered 408). So a worker only ever sees complete requests.

nginx listens on ``HOST:PORT``; granian listens on a unix socket in a private directory (mode
0700, socket 0600), so nothing but nginx can reach the workers and forge the forwarding headers.
nginx replaces the client's ``X-Forwarded-For`` with the address it sees (or, when the operator
trusts ``TRUSTED_PROXIES`` proxies in front, appends to theirs), and the workers trust one proxy
more than the operator configured: nginx itself.

Supervision: nginx runs in the foreground (``daemon off``) as a child of the server. If it exits,
the server shuts granian down gracefully and exits non-zero, for the service manager to restart
the whole. On SIGTERM (or SIGINT) nginx is asked to stop first (SIGQUIT: it closes its listening
socket and waits for every request it has accepted to be answered), then granian, so a request
nginx took in is never sent to a granian that stopped accepting.
"""
import math
import os
import shutil
import signal
import subprocess
import sys
import threading

from limits import parse

# Room for a form's fields and multipart framing around the largest upload.
BODY_MARGIN_BYTES = 64 * 1024
# Below granian's idle timeout on the upstream connections, so nginx never reuses one granian
# is closing at that moment (a POST sent into that race would be answered 502).
UPSTREAM_IDLE_SECONDS = 10


def nginx_binary(name):
    """The path of the nginx program ``name`` (Debian puts it in /usr/sbin, often off PATH).

    :raise RuntimeError: not installed.
    """
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise RuntimeError(f"the front server {name!r} is not installed (apt-get install nginx-light), "
                           "or set SWEETSHOP_FRONT_SERVER= to serve without it behind your own proxy")
    return found


def largest_body(config):
    """Twice the largest body any route of the app accepts: the app, not nginx, refuses every
    body up to there, with its own 413 (the shop's error page, or JSON under /api); nginx's
    plain 413 is only for bodies far beyond anything the shop takes."""
    imports = int(config["IMPORT_MAX_BYTES"] * 1.5) + 64 * 1024
    photos = config["PHOTO_MAX_BYTES"] + 64 * 1024
    return 2 * max(config["MAX_CONTENT_LENGTH"], imports, photos) + BODY_MARGIN_BYTES


def listen_address(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def forwarding_headers(trusted_proxies):
    """nginx's X-Forwarded-For and X-Forwarded-Proto lines. With no proxy in front, what the
    client sent is replaced, never believed; behind proxies, nginx appends its own entry."""
    if not trusted_proxies:
        return ("proxy_set_header X-Forwarded-For $remote_addr;\n"
                "            proxy_set_header X-Forwarded-Proto $scheme;")
    return ("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            "            proxy_set_header X-Forwarded-Proto $sweetshop_forwarded_proto;")


CONFIG = """daemon off;
worker_processes {workers};
pid {directory}/nginx.pid;
error_log stderr warn;
{user}
worker_shutdown_timeout {shutdown}s;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    server_tokens off;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    client_header_timeout {header_timeout}s;
    client_body_timeout {body_timeout}s;
    client_max_body_size {max_body};
    client_body_buffer_size {buffer};
    proxy_read_timeout {shutdown}s;
    proxy_send_timeout {shutdown}s;
    map $http_x_forwarded_proto $sweetshop_forwarded_proto {{
        "" $scheme;
        default "$http_x_forwarded_proto, $scheme";
    }}
    # Login attempts (POST) per client address, refused here without a worker's turn (below).
    map $request_method $sweetshop_login_key {{
        POST {login_key};
        default "";
    }}
    limit_req_zone $sweetshop_login_key zone=sweetshop_logins:1m rate={login_rate}r/m;
    limit_req_status 429;
    upstream sweetshop {{
        server unix:{socket};
        keepalive 64;
        keepalive_timeout {upstream_idle}s;
    }}
    server {{
        listen {listen} backlog=1024;
        location / {{
            {proxy}
        }}
        # A flood of login attempts from one address is answered here, before any worker: the
        # app's throttle refuses the same attempts cheaply, but each refusal still takes a turn on
        # a worker, and a flood of them queues the other customers' requests behind it.
        location = /api/auth/login {{
            limit_req zone=sweetshop_logins burst={login_burst} nodelay;
            error_page 429 = @login_throttled_json;
            {proxy}
        }}
        location = /login {{
            limit_req zone=sweetshop_logins burst={login_burst} nodelay;
            error_page 429 /login-throttled.html;
            {proxy}
        }}
        location @login_throttled_json {{
            default_type application/json;
            add_header Retry-After 60 always;
            return 429 '{{"detail": "Too many login attempts; try again later"}}';
        }}
        location = /login-throttled.html {{
            internal;
            root {directory};
            add_header Retry-After 60 always;
        }}
        # A worker that died mid-request (killed, or out of memory) gave no answer: the client
        # is told exactly that, by a closed connection, as it would be without nginx, and
        # retries with its Idempotency-Key. A 502 would read as a definite answer.
        location @no_answer {{
            return 444;
        }}
    }}
}}
"""


PROXY = """proxy_pass http://sweetshop;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            {forwarding}
            proxy_redirect off;
            error_page 502 = @no_answer;"""


def login_limit(config):
    """``(rate per minute, burst)`` of nginx's login limit: the app's own per-address attempt
    limit (``LOGIN_ATTEMPT_LIMIT_PER_ADDRESS``), so nginx refuses only what the app would."""
    limit = parse(config["LOGIN_ATTEMPT_LIMIT_PER_ADDRESS"])
    # nginx lets through the burst plus the one request the rate allows at once.
    return max(1, math.ceil(limit.amount * 60 / limit.get_expiry())), max(0, limit.amount - 1)


def nginx_config(directory, socket, config, environ, timeouts):
    """The text of nginx.conf; ``timeouts`` is ``(header seconds, shutdown seconds)``."""
    header_timeout, shutdown = timeouts
    rate, burst = login_limit(config)
    return CONFIG.format(
        proxy=PROXY.format(forwarding=forwarding_headers(config["TRUSTED_PROXIES"])),
        login_rate=rate, login_burst=burst,
        workers=environ.get("FRONT_WORKERS", "1"), directory=directory, socket=socket,
        # nginx's workers run as the user it was started by; as root it would switch to nobody,
        # who could not write the private temporary directory.
        user="user root;" if os.geteuid() == 0 else "",
        shutdown=shutdown, header_timeout=header_timeout,
        body_timeout=config["BODY_READ_TIMEOUT_SECONDS"], max_body=largest_body(config),
        buffer=config["MAX_CONTENT_LENGTH"], upstream_idle=UPSTREAM_IDLE_SECONDS,
        listen=listen_address(environ.get("HOST", "0.0.0.0"), environ.get("PORT", "8000")),
        login_key=login_key(config))


def login_key(config):
    """What nginx counts login attempts by: the client's address. Nothing (no limit) behind
    proxies, where every client comes from a proxy's address and the app's throttle, which reads
    X-Forwarded-For, tells them apart; nor when the app's throttle is off."""
    if config["TRUSTED_PROXIES"] or not config.get("RATELIMIT_ENABLED", True):
        return '""'
    return "$binary_remote_addr"


class FrontServer:
    """nginx in front of granian: ``start()`` it once granian's socket exists, ``stop()`` it to
    drain; ``on_exit`` is called (from a thread) once nginx has exited, for whatever reason."""

    def __init__(self, binary, directory, on_exit):
        self.binary, self.directory, self.on_exit = binary, directory, on_exit
        self.process = None
        self.stopping = self.failed = False

    def start(self):
        # Its own session: a Ctrl-C in the terminal reaches the server, which stops nginx in order.
        self.process = subprocess.Popen(
            [self.binary, "-p", self.directory, "-c", os.path.join(self.directory, "nginx.conf"),
             "-e", "stderr"], stdout=sys.stdout, stderr=sys.stderr, start_new_session=True)
        threading.Thread(target=self._watch, name="front-server", daemon=True).start()

    def _watch(self):
        status = self.process.wait()
        if not self.stopping:
            self.failed = True
            print(f"sweetshop: the front server (nginx) exited with status {status}; stopping",
                  file=sys.stderr, flush=True)
            self._kill_leftovers()
        self.on_exit()

    def _kill_leftovers(self):
        # nginx's workers outlive a master that was killed, still holding the listening socket.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stop(self):
        """Ask nginx to finish the requests it holds and exit (returns at once)."""
        self.stopping = True
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
