"""Hand one composed mail to the outgoing relay (aiosmtplib) and say what happened, in
terms a retry policy can use: sent, try again later (4xx, connection refused, timeouts,
a dropped connection), or failed for good (5xx, with the server's words). No database:
the worker decides what to store."""

from __future__ import annotations

from dataclasses import dataclass

import aiosmtplib

from channels.email.compose import OutgoingMail
from hub.config import Settings


@dataclass(frozen=True, slots=True)
class SmtpRelay:
    host: str
    port: int
    security: str = "starttls"  # none | starttls | tls (implicit TLS, port 465)
    user: str = ""
    password: str = ""
    timeout_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpRelay | None:
        """The configured relay, or None when sending mail is not configured."""
        if not settings.smtp_relay_host:
            return None
        return cls(settings.smtp_relay_host, settings.smtp_relay_port,
                   settings.smtp_relay_security, settings.smtp_relay_user,
                   settings.smtp_relay_password, settings.smtp_timeout_s)


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    error: str = ""  # what the agent sees, e.g. "550 5.1.1 <x@y>: no such user"
    retryable: bool = False
    response: str = ""  # the server's final answer when sent (queue id and such)


def _reply(code: int, message: str) -> str:
    return " ".join(f"{code} {message}".split())[:500]


def classify(exc: BaseException) -> SendResult:
    """Map an aiosmtplib failure to a result. Codes decide: 4xx is transient, 5xx is
    permanent (RFC 5321 §4.2.1). Authentication failures count as transient: the relay
    password is our configuration, and a fix should still deliver queued replies."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = [(r.code, r.message) for r in exc.recipients]
        text = "; ".join(_reply(c, m) for c, m in refused) or "all recipients refused"
        return SendResult(False, text, retryable=any(400 <= c < 500 for c, _ in refused))
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return SendResult(False, "relay authentication failed: " + _reply(exc.code, exc.message),
                          retryable=True)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return SendResult(False, _reply(exc.code, exc.message), retryable=400 <= exc.code < 500)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        # e.g. STARTTLS required but not offered: configuration, not the recipient.
        return SendResult(False, f"relay: {exc}", retryable=True)
    if isinstance(exc, ValueError):  # an address or header aiosmtplib cannot send
        return SendResult(False, f"cannot send: {exc}"[:500])
    if isinstance(exc, TimeoutError | ConnectionError | OSError | aiosmtplib.SMTPException):
        return SendResult(False, f"{type(exc).__name__}: {exc}"[:500], retryable=True)
    raise exc


async def send_mail(relay: SmtpRelay, mail: OutgoingMail) -> SendResult:
    """One attempt. The caller keeps the message (same Message-ID) for any retry."""
    try:
        errors, response = await aiosmtplib.send(
            mail.message,
            sender=mail.envelope_from,  # "" → MAIL FROM:<> (the null sender of acks)
            recipients=list(mail.recipients),
            hostname=relay.host,
            port=relay.port,
            username=relay.user or None,
            password=relay.password or None,
            use_tls=relay.security == "tls",
            start_tls=True if relay.security == "starttls" else False,
            timeout=relay.timeout_s,
        )
    except Exception as exc:  # classify re-raises what it does not know
        return classify(exc)
    if errors:  # some recipients refused, the others accepted: delivered, say to whom not
        refused = "; ".join(f"{addr}: {_reply(r.code, r.message)}" for addr, r in errors.items())
        return SendResult(True, f"not delivered to {refused}", response=response)
    return SendResult(True, response=response)
