"""The one redaction function of the console (``pages/`` and the command line use it for every log line and every
error text they show): secrets are removed by their *shape*, wherever they are, not only under known names.

What goes:
- JSON Web Tokens (``eyJ…``.``…``.``…``): the 6clicks long-lived token, Graph access tokens, anything signed;
- API keys shaped like the sandbox's (``6ck_`` + hex) and anything after ``Bearer`` / ``Basic``;
- Entra client secrets (``abc8Q~…``: 3 characters, a digit, ``Q~``, 31 to 34 more; Microsoft's own format);
- the value in a *credential position*: after a name such as ``apiKey``, ``api_key``, ``x-api-key``,
  ``client_secret``, ``SecretToken``, ``access_token``, ``password``, ``passphrase``, ``Authorization``,
  ``assertion`` or ``signature`` followed by ``=`` or ``:`` (query strings, form bodies, JSON, messages);
  a password or secret always, other values when they look like a credential (6+ characters with a digit,
  mixed case or punctuation: ``token: expired`` stays readable);
- a password in a URL (``https://user:password@host``);
- long high-entropy tokens anywhere (32+ characters of letters, digits, ``_``, ``-``, ``+``, ``=`` mixing upper
  case, lower case and digits): real 6clicks keys have no published shape, so a key under an innocuous name
  (``?q=…``) or in an exception text is caught by this. UUIDs, hex digests, paths and words are kept.

The sandbox (``sandbox/requestlog.py``) has its own, smaller copy of these rules: it must not import the console
(client and server are independent implementations so their bugs cannot cancel out in tests).
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

_CRED_CHARS = r"A-Za-z0-9._~+/=-"
# the credential word itself (client_secret, SCIM_SANDBOX_API_KEY, SecretToken match at their last word); no
# unbounded prefix, so a 30,000-character line costs linear time, not quadratic
_NAMES = (r"(?:api[_-]?key|apikey|secret|token|password|passwd|pwd|passphrase|credential|authorization"
          r"|assertion|signature)")
_ALWAYS = re.compile(r"(?i)(?:password|passwd|pwd|passphrase|secret)$")

_RULES: list[tuple[re.Pattern[str], str]] = [
    # JSON Web Tokens (also JWE's five parts: the first three go, the rest is unreadable without them)
    (re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[redacted jwt]"),
    # the sandbox's API keys (and any 6ck_-prefixed key)
    (re.compile(r"(?<![A-Za-z0-9_])6ck_[A-Za-z0-9_]{16,}"), "[redacted api key]"),
    # Entra (Azure AD) client secrets
    (re.compile(r"(?<![A-Za-z0-9_.~-])[A-Za-z0-9_.-]{3}[0-9]Q~[A-Za-z0-9_.~-]{31,34}(?![A-Za-z0-9_.~-])"),
     "[redacted client secret]"),
    # HTTP authorization schemes
    (re.compile(r"(?i)\b(bearer|basic)(\s+|%20|\+)[" + _CRED_CHARS + r"]{6,}"), r"\1\2" + REDACTED),
    # user:password@ in URLs
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,30}://[^/\s:@]+):[^/\s@]+@"), r"\1:" + REDACTED + "@"),
]

# name, its closing quote, the separator, the value's opening quote, the value
_POSITION = re.compile(
    r"(?i)(?P<name>" + _NAMES + r")(?P<sep>[\"']?\s*(?:=|:|%3D)\s*[\"']?)"
    r"(?P<value>(?:Bearer\s+|Basic\s+)?[^\s\"'&,;}\]<>)]+)")
_ENTROPY = re.compile(r"(?<![A-Za-z0-9_+=-])[A-Za-z0-9_+=-]{32,}(?![A-Za-z0-9_+=-])")


def _looks_like_credential(value: str) -> bool:
    if value.startswith("[redacted") or len(value) < 6:
        return False
    return (any(c.isdigit() for c in value) or (value.lower() != value and value.upper() != value)
            or any(c in "_~.+/=-" for c in value))


def _position(m: re.Match[str]) -> str:
    name, value = m.group("name"), m.group("value")
    if "[redacted" in value:
        return m.group(0)
    if _ALWAYS.search(name) or _looks_like_credential(value):
        return name + m.group("sep") + REDACTED
    return m.group(0)


def _random_looking(s: str) -> bool:
    """Mixed case with a digit, or (a random token need not hold a digit) with upper-case letters too many for
    words: a quarter of the letters and more, where CamelCase names such as Entra's error codes have about one
    in seven."""
    letters = [c for c in s if c.isalpha()]
    upper = sum(c.isupper() for c in letters)
    if not letters or upper in (0, len(letters)):
        return False
    return any(c.isdigit() for c in s) or upper >= len(letters) / 4


def _entropy(m: re.Match[str]) -> str:
    s = m.group(0)
    return "[redacted token]" if _random_looking(s) else s


def redact(text: object) -> str:
    """``text`` (anything; ``str()`` is taken) with every secret-shaped part replaced by a ``[redacted…]`` mark."""
    out = text if isinstance(text, str) else str(text)
    for pattern, repl in _RULES:
        out = pattern.sub(repl, out)
    out = _POSITION.sub(_position, out)
    return _ENTROPY.sub(_entropy, out)


class RedactingFormatter(logging.Formatter):
    """A log formatter whose whole output (message, arguments, exception and stack text) is redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def redacting_handler(handler: logging.Handler, fmt: str | None = None) -> logging.Handler:
    """``handler`` with a :class:`RedactingFormatter` (keeping ``fmt``)."""
    handler.setFormatter(RedactingFormatter(fmt))
    return handler
