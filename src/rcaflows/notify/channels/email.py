"""The email channel over SMTP: a first mail, then replies threaded onto it.

Every update is a reply (``Re:`` subject, ``In-Reply-To`` and ``References`` set to the first
mail's Message-ID), so mail clients show one thread per incident.

TLS is required by default: ``smtp_tls: starttls`` sends nothing unless the server offers
STARTTLS (an attacker on the path can strip the offer, so "upgrade when offered" is no
protection), ``ssl`` speaks TLS from the first byte. The server's certificate is verified.
Credentials never cross a plain connection unless the config says ``smtp_plaintext_auth: true``.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import ClassVar
from urllib.parse import quote

from rcaflows.config.models import ChannelConfig
from rcaflows.notify.base import register, secret
from rcaflows.notify.models import Delivered, DeliveryError, DeliveryMode, Message, Previous


@register("email")
class EmailNotifier:
    """Send mail with :mod:`smtplib`; credentials from ``username_env`` / ``password_env`` or a Secret block."""

    kind: ClassVar[str] = "email"

    def __init__(self, channel: ChannelConfig) -> None:
        self.channel = channel

    def build(self, message: Message, previous: Previous | None) -> EmailMessage:
        """Return the mail for ``message``: the first one, or a reply threaded onto ``previous``."""
        ch = self.channel
        mail = EmailMessage()
        domain = (ch.smtp_from or "rcaflows.local").rpartition("@")[2] or "rcaflows.local"
        mail["Message-ID"] = make_msgid(idstring=message.incident_key, domain=domain)
        mail["From"] = ch.smtp_from or ""
        mail["To"] = ", ".join(ch.to)
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        mail["X-Rcaflows-Incident"] = message.dedup_key
        mail["X-Rcaflows-Action"] = message.action.value
        if previous is not None and previous.external_id:
            mail["Subject"] = f"Re: {message.subject()}"
            mail["In-Reply-To"] = previous.external_id
            mail["References"] = previous.external_id
        else:
            mail["Subject"] = message.subject()
        mail.set_content(message.text() + "\n")
        return mail

    def send(self, message: Message, previous: Previous | None) -> Delivered:
        """Send the mail; the first mail's Message-ID is the thread every reply refers to."""
        ch = self.channel
        mail = self.build(message, previous)
        where = f"channel {ch.name!r}: SMTP {ch.smtp_host}:{ch.smtp_port}"
        try:
            context = ssl.create_default_context(cafile=ch.smtp_ca_file) if ch.smtp_tls != "none" else None
            smtp = (
                smtplib.SMTP_SSL(ch.smtp_host or "", ch.smtp_port, timeout=ch.timeout, context=context)
                if ch.smtp_tls == "ssl"
                else smtplib.SMTP(ch.smtp_host or "", ch.smtp_port, timeout=ch.timeout)
            )
            with smtp:
                smtp.ehlo()
                if ch.smtp_tls == "starttls":
                    if not smtp.has_extn("starttls"):
                        raise DeliveryError(
                            f"{where} does not offer STARTTLS; nothing was sent in clear (use smtp_tls 'ssl' "
                            "for SMTPS, or 'none' only for a relay on a trusted network)",
                            transient=False,
                        )
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if ch.username_env or ch.password_env or ch.password_secret_block:
                    if ch.smtp_tls == "none" and not ch.smtp_plaintext_auth:
                        raise DeliveryError(
                            f"{where}: refused to send the SMTP password over plain text; use smtp_tls "
                            "'starttls' or 'ssl' (or set smtp_plaintext_auth: true on a trusted network)",
                            transient=False,
                        )
                    user = secret(ch, ch.username_env, None, "the SMTP user name")
                    password = secret(ch, ch.password_env, ch.password_secret_block, "the SMTP password")
                    smtp.login(user, password)
                smtp.send_message(mail)  # raises SMTPRecipientsRefused when nobody accepted it
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(
                f"{where}: the server's TLS certificate is not trusted ({exc.verify_message}); "
                "set smtp_ca_file to the CA that signed it",
                transient=False,
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"channel {ch.name!r}: SMTP login refused ({exc.smtp_code})", transient=False) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"channel {ch.name!r}: SMTP {ch.smtp_host}:{ch.smtp_port} answered {exc.smtp_code} {exc.smtp_error!r}",
                transient=400 <= exc.smtp_code < 500,
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(
                f"channel {ch.name!r}: every recipient refused: {exc.recipients}", transient=False
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"channel {ch.name!r}: cannot deliver via SMTP {ch.smtp_host}:{ch.smtp_port}: "
                f"{type(exc).__name__}: {exc}",
                transient=True,
            ) from None
        first = previous.external_id if previous is not None and previous.external_id else str(mail["Message-ID"])
        return Delivered(
            mode=DeliveryMode.POST if previous is None else DeliveryMode.REPLY,
            external_id=first,
            thread_id=str(mail["Message-ID"]),
            link=mid_url(str(mail["Message-ID"])),
        )


def mid_url(message_id: str) -> str:
    """Return the ``mid:`` URL (RFC 2392) of a Message-ID: mail clients open the mail it names."""
    return "mid:" + quote(message_id.strip().strip("<>"), safe="@!$&'()*+,;=:")
