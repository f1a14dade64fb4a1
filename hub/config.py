"""One settings object, built once at the edge from an environment mapping.

The core never reads ``os.environ``: the CLI (or a test) builds a ``Settings``
and passes it down.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import msgspec

from hub.errors import ConfigError


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = ""
    redis_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    # The origin browsers see; agent sockets must come from it (or extra_origins).
    public_url: str = "http://127.0.0.1:8000"
    extra_origins: tuple[str, ...] = ()
    secret_key: str = ""
    session_ttl_s: int = 12 * 3600
    cookie_secure: bool = False

    # Inbound email. Raw messages and attachments (written by the mail adapters, served
    # to agents by the web app): the same directory as OMNIHUB_MAIL_BLOB_DIR.
    mail_blob_dir: str = ".omnihub/blobs"
    # Thread an unthreaded mail into the same sender's live case with the same subject.
    email_subject_fallback: bool = True

    # Realtime
    ws_queue_size: int = 512
    ws_max_frame: int = 64 * 1024
    ws_ping_interval_s: float = 20.0
    http_max_body: int = 64 * 1024
    # Events stream retention (approximate MAXLEN); older gaps make clients reload.
    events_maxlen: int = 200_000

    # Pipeline
    pipeline_batch: int = 512
    pipeline_block_ms: int = 1000
    # A pending ingest entry idle this long belongs to a dead consumer.
    claim_idle_ms: int = 15_000
    consumer_name: str = ""

    # Messaging webhooks. The public base URL providers call (scheme, host, port, optional
    # path prefix), e.g. https://hub.example.com behind a TLS-terminating proxy: Twilio
    # signs that URL, not the one the hub sees. Empty: the URL as the hub received it.
    webhook_base_url: str = ""
    webhook_max_body: int = 256 * 1024
    # Inbound media is stored as a reference to the provider's copy (never in our DB) and
    # streamed to agents on demand by the media proxy (web/routes_media.py). 16 MiB is
    # WhatsApp's largest non-document limit (video/audio); MMS is ~5 MB, Telegram bots
    # can download at most 20 MB. Larger media is kept as a reference flagged too_large.
    media_max_bytes: int = 16 * 1024 * 1024
    # The proxy: at most this many provider downloads at once per web process (more
    # wait up to media_queue_wait_s, then 503), and per-download time bounds.
    media_max_concurrent: int = 16
    media_queue_wait_s: float = 10.0
    media_connect_timeout_s: float = 5.0
    media_read_timeout_s: float = 20.0
    media_total_timeout_s: float = 300.0
    # Provider API bases: configurable so tests talk to a local fake over real HTTP.
    twilio_api_base: str = "https://api.twilio.com"
    meta_graph_base: str = "https://graph.facebook.com"
    meta_graph_version: str = "v21.0"
    telegram_api_base: str = "https://api.telegram.org"
    # Identity: region for phone numbers written without +<country> (ISO 3166, e.g. "DE").
    default_phone_region: str = ""

    # Outbound delivery (workers). A claimed message still 'sending' after this long
    # belongs to a dead worker: marked failed ("outcome unknown"), never sent again.
    # Must exceed the longest single send attempt (smtp_timeout_s per SMTP step).
    delivery_stuck_after_s: int = 600

    # Bot webhooks (docs/bots.md): attempts per delivery, the first retry's delay
    # (doubling, with jitter, at most 10 min), and how long a bot with neither a live
    # socket nor a webhook may hold a conversation before humans get it.
    bot_webhook_max_attempts: int = 8
    bot_webhook_retry_base_s: float = 5.0
    bot_unreachable_grace_s: float = 30.0

    # Outbound email. email_domain: our Message-ID and reply+<token>@ domain (empty =
    # the domain of the sending inbox's address).
    email_domain: str = ""
    smtp_relay_host: str = ""
    smtp_relay_port: int = 587
    smtp_relay_security: str = "starttls"  # none | starttls | tls
    smtp_relay_user: str = ""
    smtp_relay_password: str = ""
    smtp_timeout_s: float = 60.0
    smtp_max_tries: int = 8
    smtp_retry_base_s: float = 30.0  # 30 s, 1, 2, 4 ... min, at most 30 min between tries
    # At most one acknowledgement per sender address within this window.
    email_ack_window_s: int = 3600
    # make dev only: a Maildir the local SMTP sink writes; /dev/mailbox shows it.
    dev_mailbox_dir: str = ""
    # make dev only: host:port of the local PBX simulator (`omnihub devpbx`), which the
    # demo's AMI originator dials.
    dev_pbx_listen: str = ""

    # Agents' uploads (reply attachments): per file, and per message in total.
    upload_max_bytes: int = 10 * 1024 * 1024
    upload_max_total_bytes: int = 20 * 1024 * 1024
    upload_max_files: int = 10

    # "Call me back": distinct requests allowed per phone number and per client address
    # within the window (a retry of the same request id is not counted again).
    callback_limit_per_phone: int = 3
    callback_limit_per_client: int = 20
    callback_limit_window_s: int = 3600

    # Router: a routing YAML loaded at start (stored as a new version when newer).
    routing_config: str = ""
    # Whether plain agents may open the supervisor wallboard (/board; docs/board.md).
    board_for_agents: bool = False

    # Streams and groups (prefix lets several hubs share one Redis).
    key_prefix: str = "oh:"

    @property
    def ingest_stream(self) -> str:
        return self.key_prefix + "ingest"

    # The events stream and its published set are used together by one Lua script:
    # they share the hash tag {events} so a Redis Cluster keeps them in one slot.
    @property
    def events_stream(self) -> str:
        return self.key_prefix + "{events}"

    @property
    def dead_letter_stream(self) -> str:
        return self.key_prefix + "ingest:dead"

    @property
    def dead_letter_total(self) -> str:
        """Counter: entries ever dead-lettered (the alarm; docs/pipeline.md)."""
        return self.key_prefix + "ingest:dead:total"

    @property
    def published_set(self) -> str:
        return self.key_prefix + "{events}:published"

    @property
    def arq_queue(self) -> str:
        return self.key_prefix + "arq:queue"

    @property
    def allowed_agent_origins(self) -> frozenset[str]:
        return frozenset((self.public_url.rstrip("/"), *self.extra_origins))


_INT_FIELDS = {
    "port", "session_ttl_s", "ws_queue_size", "ws_max_frame", "http_max_body",
    "events_maxlen", "pipeline_batch", "pipeline_block_ms", "claim_idle_ms",
    "webhook_max_body", "media_max_bytes", "media_max_concurrent",
    "delivery_stuck_after_s", "smtp_relay_port", "smtp_max_tries", "email_ack_window_s",
    "upload_max_bytes", "upload_max_total_bytes", "upload_max_files",
    "callback_limit_per_phone", "callback_limit_per_client", "callback_limit_window_s",
    "bot_webhook_max_attempts",
}
_FLOAT_FIELDS = {"ws_ping_interval_s", "smtp_timeout_s", "smtp_retry_base_s",
                 "media_queue_wait_s", "media_connect_timeout_s", "media_read_timeout_s",
                 "media_total_timeout_s",
                 "bot_webhook_retry_base_s", "bot_unreachable_grace_s"}
_BOOL_FIELDS = {"cookie_secure", "email_subject_fallback", "board_for_agents"}


def settings_from_env(env: Mapping[str, str], **overrides: object) -> Settings:
    """Build settings from ``OMNIHUB_*`` variables plus ``DATABASE_URL``/``REDIS_URL``."""
    values: dict[str, object] = {}
    if env.get("DATABASE_URL"):
        values["database_url"] = env["DATABASE_URL"]
    if env.get("REDIS_URL"):
        values["redis_url"] = env["REDIS_URL"]
    for field in Settings.__struct_fields__:
        raw = env.get("OMNIHUB_" + field.upper())
        if raw is None:
            continue
        try:
            if field in _INT_FIELDS:
                values[field] = int(raw)
            elif field in _FLOAT_FIELDS:
                values[field] = float(raw)
            elif field in _BOOL_FIELDS:
                values[field] = raw.strip().lower() in ("1", "true", "yes", "on")
            elif field == "extra_origins":
                values[field] = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
            else:
                values[field] = raw
        except ValueError as exc:
            raise ConfigError(f"OMNIHUB_{field.upper()}: {exc}") from exc
    values.update(overrides)
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.webhook_base_url:
        parts = urlsplit(settings.webhook_base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ConfigError("OMNIHUB_WEBHOOK_BASE_URL: http(s)://host[:port][/prefix]")
    if settings.secret_key and len(settings.secret_key) < 16:
        raise ConfigError("OMNIHUB_SECRET_KEY must be at least 16 characters")
    if settings.smtp_relay_security not in ("none", "starttls", "tls"):
        raise ConfigError("OMNIHUB_SMTP_RELAY_SECURITY must be none, starttls or tls")
    return settings
