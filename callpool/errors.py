"""The exception tree of callpool.

Every error callpool raises on purpose derives from ``CallpoolError``; the HTTP layer
maps each class to a status and a stable ``error`` id, and the CLI prints its message
on one line.

    CallpoolError
    ├── ConfigError               a setting or the installation is wrong (stops start-up)
    ├── ValidationError           input that is not acceptable (HTTP 400)
    │   ├── InvalidPhoneNumber    not a valid phone number for the region
    │   └── PayloadTooLarge       a request body over the limit (HTTP 413)
    ├── NotFound                  an unknown site, campaign, key... (HTTP 404)
    ├── Conflict                  a duplicate name or number (HTTP 409)
    ├── AuthError                 missing or wrong credentials (HTTP 401)
    │   └── Forbidden             right credentials, wrong role (HTTP 403)
    │       └── OriginNotAllowed  a page's origin is not among the site's (HTTP 403)
    ├── RateLimited               too many requests from one client (HTTP 429)
    ├── PoolExhausted             no free number in a campaign's pool
    ├── StoreUnavailable          the database cannot be reached (HTTP 503)
    │   └── DatabaseUnusable      reached, but refuses: no such database or user, read-only,
    │                             full, no callpool tables
    ├── RecordingUnavailable      a recording cannot be served now (no converter) (HTTP 503)
    ├── ExportUnavailable         a file format's system part is missing (HTTP 503)
    └── AmiError                  talking to an Asterisk Manager Interface failed
        ├── AmiProtocolError      a frame that does not parse
        └── AmiLoginFailed        the PBX refused the login
"""

from __future__ import annotations


class CallpoolError(Exception):
    """Base of every error callpool raises on purpose."""

    error_id = "error"


class ConfigError(CallpoolError):
    error_id = "config_error"


class ValidationError(CallpoolError):
    error_id = "invalid_input"


class InvalidPhoneNumber(ValidationError):
    error_id = "invalid_phone_number"


class PayloadTooLarge(ValidationError):
    error_id = "payload_too_large"


class NotFound(CallpoolError):
    error_id = "not_found"


class Conflict(CallpoolError):
    error_id = "conflict"


class AuthError(CallpoolError):
    error_id = "unauthorized"


class Forbidden(AuthError):
    error_id = "forbidden"


class OriginNotAllowed(Forbidden):
    error_id = "origin_not_allowed"


class RateLimited(CallpoolError):
    error_id = "rate_limited"


class PoolExhausted(CallpoolError):
    error_id = "pool_exhausted"


class StoreUnavailable(CallpoolError):
    error_id = "store_unavailable"


class DatabaseUnusable(StoreUnavailable):
    error_id = "database_unusable"


class RecordingUnavailable(CallpoolError):
    error_id = "recording_unavailable"


class ExportUnavailable(CallpoolError):
    error_id = "export_unavailable"


class AmiError(CallpoolError):
    error_id = "ami_error"


class AmiProtocolError(AmiError):
    error_id = "ami_protocol_error"


class AmiLoginFailed(AmiError):
    error_id = "ami_login_failed"
