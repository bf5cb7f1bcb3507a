"""Secrets never printed: the masks applied to every text slamon shows, logs or stores.

Two layers, because a secret reaches text in two ways:

* by **shape**: a URL's password (``redis://:pw@host``), its query string (a webhook URL's
  ``?token=…``) and fragment, a ``whsec_`` signing secret and a bearer token after
  ``Bearer`` are masked wherever they appear, whoever wrote them (:func:`mask_url`,
  :meth:`Redactor.__call__`);
* by **value**: the secrets this process was configured with (API tokens, passwords, HMAC
  secrets) are masked wherever their exact text appears, even out of any URL (an error
  message that quotes a password, say).

Values shorter than :data:`MIN_SECRET_LENGTH` are left to the shape rules: masking every
``abc`` in a log would garble it while protecting nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, urlsplit, urlunsplit

MASK = "***"
MIN_SECRET_LENGTH = 6

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_WHSEC = re.compile(r"whsec_[A-Za-z0-9+/=_-]+")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


def mask_url(url: str) -> str:
    """``url`` fit to show: its password, query values and fragment masked, the rest kept
    (scheme, user, host, port, path and query keys say which service is meant)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return MASK  # not a URL we can take apart: show nothing of it
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        # user:password keeps the user; a lone userinfo may itself be a token.
        netloc = f"{user + ':' if colon else ''}{MASK}@{hostport}"
    query = "&".join(
        f"{key}={MASK}" if sep else key
        for key, sep, _value in (pair.partition("=") for pair in parts.query.split("&") if pair)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, MASK if parts.fragment else ""))


class Redactor:
    """Masks secrets in text, by shape and by the given values (module docstring)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values: set[str] = set()
        for secret in secrets:
            secret = secret.strip()
            if len(secret) >= MIN_SECRET_LENGTH:
                values.update((secret, quote(secret, safe=""), quote(secret)))
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(values, key=len, reverse=True)
        self._values = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None

    def __call__(self, text: str) -> str:
        if self._values is not None:
            text = self._values.sub(MASK, text)
        text = _URL.sub(lambda m: _mask_url_in_text(m.group(0)), text)
        text = _WHSEC.sub("whsec_" + MASK, text)
        return _BEARER.sub(lambda m: m.group(1) + MASK, text)


def _mask_url_in_text(found: str) -> str:
    # A URL at the end of a sentence keeps its punctuation outside the mask.
    core = found.rstrip(".,;:)]}")
    return mask_url(core) + found[len(core):]
