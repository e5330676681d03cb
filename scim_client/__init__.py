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
from .tokens import IssuedToken, exchange_api_key, fingerprint, read_token_expiry

__all__ = [
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
    "ProtocolError",
    "RateLimited",
    "ScimClient",
    "ScimError",
    "ScimGroup",
    "ScimUser",
    "ServerError",
    "TokenExchangeError",
    "exchange_api_key",
    "filters",
    "fingerprint",
    "page_size_hint",
    "patch",
    "read_token_expiry",
]
