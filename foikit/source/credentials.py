"""Database credentials kept out of every message, record and file.

A credential can sit in a URL's userinfo (``user:password@``), in its query string (``?password=``,
``?sslpassword=``, ``?token=``...: any key that names a secret) or be the whole value of the environment
variable that ``url_env`` names. :func:`safe_url` renders a URL with all of them masked (SQLAlchemy's own
parsing and ``hide_password``, plus the query keys); :func:`remember` records the secrets of a URL this process
opened, and :func:`scrub` removes every remembered secret, and any credential of a URL it finds, from a text.

>>> safe_url("postgresql://u:pw@db/x?sslmode=require&password=pw")
'postgresql://u:***@db/x?password=***&sslmode=require'
"""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus

import sqlalchemy as sa
from sqlalchemy.engine import URL

MASK = "***"
# query keys that carry a secret (matched as substrings of the lower-cased key: sslpassword, api_key, ...)
SECRET_KEYS = ("password", "passwd", "pwd", "pass", "token", "secret", "key", "auth", "credential", "signature")
# where a URL may sit in a message: only to find candidates; each one is parsed by SQLAlchemy
_URL_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")
_remembered: dict[str, str] = {}  # secret -> what replaces it, for every URL this process opened


def _secret_key(key: str) -> bool:
    k = key.lower()
    return any(word in k for word in SECRET_KEYS)


def parse(url: str | URL) -> URL | None:
    """``url`` parsed by SQLAlchemy, or None when it is not a URL."""
    if isinstance(url, URL):
        return url
    try:
        return sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError, TypeError):
        return None


def secrets_of(url: str | URL) -> tuple[str, ...]:
    """The password and the values of secret query keys of ``url`` ('' when it is not a URL)."""
    parsed = parse(url)
    if parsed is None:
        return ()
    found = [parsed.password] if parsed.password else []
    for key, value in parsed.query.items():
        if _secret_key(key):
            found += [v for v in ((value,) if isinstance(value, str) else value) if v]
    return tuple(dict.fromkeys(str(s) for s in found))


def safe_url(url: str | URL) -> str:
    """``url`` as shown anywhere: the password and every secret query value masked."""
    parsed = parse(url)
    if parsed is None:
        return "(a database URL that cannot be parsed)"
    query = {k: (MASK if _secret_key(k) else v) for k, v in parsed.query.items()}
    return parsed.set(query=query).render_as_string(hide_password=True).replace(quote(MASK, safe=""), MASK)


def remember(url: str, *, whole: bool = False) -> None:
    """Remember the secrets of ``url`` (and the raw URL itself) for :func:`scrub`; ``whole``: the URL came
    from an environment variable, so its value is a secret wherever it appears, with or without a password."""
    shown = safe_url(url)
    for secret in secrets_of(url):
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            _remembered[form] = MASK
    if whole or secrets_of(url):
        _remembered[url] = shown


def scrub(text: str) -> str:
    """``text`` without any remembered secret and without the credentials of any URL in it."""
    for secret in sorted(_remembered, key=len, reverse=True):  # the whole URL before its parts
        if secret and secret in text:
            text = text.replace(secret, _remembered[secret])

    def masked(match: re.Match[str]) -> str:
        candidate = match.group(0)
        return safe_url(candidate) if secrets_of(candidate) else candidate

    return _URL_LIKE.sub(masked, text)
