"""SMTP secrets never cross the wire in clear (issue 13, item 3), against real local aiosmtpd servers."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message as MailMessage
from ipaddress import IPv4Address
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import ValidationError
from tests.notify.conftest import free_port

from rcaflows.config.models import ChannelConfig
from rcaflows.incidents import Store
from rcaflows.notify import dispatch

x509 = pytest.importorskip("cryptography.x509")


@dataclass
class Server:
    host: str
    port: int
    ca_file: str
    mails: list[MailMessage] = field(default_factory=list)
    logins: list[tuple[str, str, bool]] = field(default_factory=list)  # user, password, over TLS


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Return (cert file, key file) of a self-signed certificate for 127.0.0.1 and localhost."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    crt = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    d = tmp_path_factory.mktemp("tls")
    (d / "cert.pem").write_bytes(crt.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(d / "cert.pem"), str(d / "key.pem")


class _Handler:
    def __init__(self, server: Server) -> None:
        self.server = server

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        self.server.mails.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server(cert: tuple[str, str]) -> Iterator[Callable[..., Server]]:
    """Start real SMTP servers: ``mode`` 'starttls' (offers it), 'ssl' (SMTPS) or 'plain' (no TLS at all)."""
    controllers: list[Controller] = []

    def start(mode: str) -> Server:
        server = Server("127.0.0.1", free_port(), cert[0])

        def authenticator(smtp: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
            if isinstance(auth_data, LoginPassword):
                tls = session.ssl is not None or smtp.transport.get_extra_info("ssl_object") is not None
                server.logins.append((auth_data.login.decode(), auth_data.password.decode(), tls))
                return AuthResult(success=auth_data.password == b"s3cret")
            return AuthResult(success=False)

        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*cert)
        # aiosmtpd only knows of STARTTLS: over SMTPS (TLS from the first byte) it must not ask for it again
        kwargs: dict[str, Any] = {"authenticator": authenticator, "auth_require_tls": mode == "starttls"}
        if mode == "starttls":
            kwargs["tls_context"] = ctx
        controller = Controller(
            _Handler(server),
            hostname=server.host,
            port=server.port,
            ssl_context=ctx if mode == "ssl" else None,
            **kwargs,
        )
        controller.start()
        controllers.append(controller)
        return server

    yield start
    for c in controllers:
        c.stop()


def _mail(server: Server, **fields: Any) -> ChannelConfig:
    return ChannelConfig(
        name="mail",
        kind="email",
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_from="rcaflows@example.org",
        to=["oncall@example.org"],
        smtp_ca_file=server.ca_file,
        retries=0,
        **fields,
    )


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("TEST_SMTP_USER", "rcaflows")
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret")
    return {"username_env": "TEST_SMTP_USER", "password_env": "TEST_SMTP_PASSWORD"}


def test_starttls_is_the_default_and_logs_in_over_tls(
    smtp_server: Callable[..., Server], creds: dict[str, str], store: Store, open_incident: Callable[..., str]
) -> None:
    server = smtp_server("starttls")
    (res,) = dispatch(store, open_incident(), [_mail(server, **creds)], "opened", "test")
    assert res.ok, res.error
    assert server.logins == [("rcaflows", "s3cret", True)] and len(server.mails) == 1


def test_smtps_logs_in_over_tls(
    smtp_server: Callable[..., Server], creds: dict[str, str], store: Store, open_incident: Callable[..., str]
) -> None:
    server = smtp_server("ssl")
    (res,) = dispatch(store, open_incident(), [_mail(server, smtp_tls="ssl", **creds)], "opened", "test")
    assert res.ok, res.error
    assert server.logins == [("rcaflows", "s3cret", True)] and len(server.mails) == 1


def test_a_server_without_starttls_gets_neither_the_password_nor_the_mail(
    smtp_server: Callable[..., Server], creds: dict[str, str], store: Store, open_incident: Callable[..., str]
) -> None:
    server = smtp_server("plain")  # accepts AUTH over plain text: a downgraded or hostile server
    (res,) = dispatch(store, open_incident(), [_mail(server, **creds)], "opened", "test")
    assert not res.ok and res.attempts == 1 and "does not offer STARTTLS" in (res.error or "")
    assert server.logins == [] and server.mails == []


def test_plain_text_login_is_refused_unless_explicitly_allowed(
    smtp_server: Callable[..., Server], creds: dict[str, str], store: Store, open_incident: Callable[..., str]
) -> None:
    server = smtp_server("plain")
    with pytest.raises(ValidationError, match="password in clear"):
        _mail(server, smtp_tls="none", **creds)
    # a config built around the validator (e.g. an old record) is still refused at send time
    sneaky = _mail(server, smtp_tls="none", smtp_plaintext_auth=True, **creds).model_copy(
        update={"smtp_plaintext_auth": False}
    )
    (res,) = dispatch(store, open_incident(), [sneaky], "opened", "test")
    assert not res.ok and "plain text" in (res.error or "") and server.logins == [] and server.mails == []
    allowed = _mail(server, smtp_tls="none", smtp_plaintext_auth=True, **creds)
    (res,) = dispatch(store, open_incident("other"), [allowed], "opened", "test")
    assert res.ok and server.logins == [("rcaflows", "s3cret", False)]


def test_an_untrusted_certificate_is_refused_before_login(
    smtp_server: Callable[..., Server], creds: dict[str, str], store: Store, open_incident: Callable[..., str]
) -> None:
    server = smtp_server("starttls")
    ch = _mail(server, **creds).model_copy(update={"smtp_ca_file": None})  # system CAs do not know the test CA
    (res,) = dispatch(store, open_incident(), [ch], "opened", "test")
    assert not res.ok and "not trusted" in (res.error or "") and server.logins == [] and server.mails == []
