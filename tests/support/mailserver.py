"""A real SMTP server for the tests (aiosmtpd, in a thread of the test process): plain, or with
STARTTLS on a self-signed certificate made here and AUTH; it can answer with a chosen refusal,
or hold each mail a while, and be stopped and started again on its port."""
import email
import email.policy
import ssl
import subprocess
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from support.harness import free_port


class Inbox:
    """What the server received: parsed messages, and the answer it gives to each DATA."""

    def __init__(self):
        self.messages = []
        self.answer = "250 OK"
        self.hold_seconds = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        if self.hold_seconds:
            time.sleep(self.hold_seconds)  # the server's own thread: a slow mail server
        if self.answer.startswith("250"):
            with self.lock:
                self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return self.answer

    def to(self, address):
        return [message for message in self.messages if message["To"] == address]

    def wait_for(self, count, seconds=30):
        deadline = time.monotonic() + seconds
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


def self_signed_certificate(directory):
    """A certificate for 127.0.0.1 and localhost, and its key: ``(cert_path, key_path)``."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class MailServer:
    """An SMTP server on 127.0.0.1; ``tls`` = ``(cert, key)`` offers STARTTLS and then requires
    AUTH with ``login``/``password`` over it."""

    def __init__(self, tls=None, login="shop", password="s3cret-mail"):
        self.inbox = Inbox()
        self.port = free_port()
        self.tls, self.login, self.password = tls, login, password
        self.controller = None
        self.start()

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == self.login.encode() and auth_data.password == self.password.encode()
        return AuthResult(success=ok)

    def start(self):
        options = {}
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*map(str, self.tls))
            options = dict(tls_context=context, require_starttls=True, auth_required=True,
                           auth_require_tls=True, authenticator=self._authenticate)
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()

    def stop(self):
        self.controller.stop()

    def settings(self):
        """The shop's mail settings for this server."""
        settings = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": self.port,
                    "MAIL_FROM": "Sweetshop <shop@example.com>",
                    "MAIL_SECURITY": "none", "PUBLIC_URL": "https://shop.example"}
        if self.tls:
            settings.update(MAIL_SECURITY="starttls", MAIL_USERNAME=self.login, MAIL_PASSWORD=self.password,
                            MAIL_CA_FILE=str(self.tls[0]))
        return settings
