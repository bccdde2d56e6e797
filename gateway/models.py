"""The gateway's tables: accounts, refresh tokens, browser sessions, SMS verification codes, API keys
and login throttling (identity lives here). No phone number is stored: a verification keeps a keyed
hash of the number it was sent to, the number itself goes to notify's encrypted directory."""

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, MetaData, String, Table

from shared.db import UTCDateTime

metadata = MetaData()

accounts = Table(
    "account",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(32), nullable=False),
    Column("scope", String(12), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("display_name", String(64), nullable=True),
)

refresh_tokens = Table(
    "refresh_token",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    # Every token issued by rotating one login shares a family; reuse of a spent token revokes it.
    Column("family_id", String(36), nullable=False, index=True),
    Column("account_id", String(36), ForeignKey("account.id", ondelete="CASCADE"), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

api_keys = Table(
    "api_key",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("scope", String(12), nullable=False),
    Column("rate_per_minute", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

login_throttle = Table(
    "login_throttle",
    metadata,
    # "account:<username>" or "address:<ip>": counted whether or not the account exists.
    Column("key", String(200), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_started_at", UTCDateTime(), nullable=False),
    Column("locked_until", UTCDateTime(), nullable=True),
)

browser_sessions = Table(
    "browser_session",
    metadata,
    # SHA-256 of the cookie's random value: a stolen database opens no session.
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", String(36), ForeignKey("account.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

sms_verifications = Table(
    "sms_verification",
    metadata,
    Column("id", String(36), primary_key=True),
    # HMAC-SHA256 of the number under the gateway's own key: counts codes per number, never shows it.
    Column("number_hash", String(64), nullable=False),
    Column("address", String(64), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("used_at", UTCDateTime(), nullable=True),
    Index("ix_sms_verification_number", "number_hash", "created_at"),
    Index("ix_sms_verification_address", "address", "created_at"),
)
