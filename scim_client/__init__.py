"""A fast, correct SCIM 2.0 client with 6clicks token exchange (see docs/scim_client.md)."""

from . import filters, patch
from .client import Exchange, ScimClient, page_size_hint
from .errors import (
    AuthenticationError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    NotFound,
    PermissionDenied,
    ProtocolError,
    RateLimited,
    ScimError,
    ServerError,
    TokenExchangeError,
)
from .models import Listing, ScimGroup, ScimUser
from .paging import PageStream, PagingError
from .probe import Probe, ProbeOutcome
from .retry import AttemptCount, Attempts, RetryPolicy, count_attempts, failure_kind, parse_retry_after
from .tokens import IssuedToken, exchange_api_key, fingerprint, read_token_expiry

__all__ = [
    "AttemptCount",
    "Attempts",
    "AuthenticationError",
    "BadRequest",
    "Conflict",
    "ConnectionFailed",
    "Exchange",
    "IssuedToken",
    "Listing",
    "NotFound",
    "PageStream",
    "PagingError",
    "PermissionDenied",
    "Probe",
    "ProbeOutcome",
    "ProtocolError",
    "RateLimited",
    "RetryPolicy",
    "ScimClient",
    "ScimError",
    "ScimGroup",
    "ScimUser",
    "ServerError",
    "TokenExchangeError",
    "count_attempts",
    "exchange_api_key",
    "failure_kind",
    "filters",
    "fingerprint",
    "page_size_hint",
    "parse_retry_after",
    "patch",
    "read_token_expiry",
]
