"""Who may steer a run from the dashboard: whoever opened the page with the run's token.

The token is a random string kept in ``RUN_DIR/dashboard.token`` (mode 0600, created by the first
``autoscope-dash`` on the folder, or by the run when started with ``experiment.dashboard=true``).
The URL the dashboard prints ends with ``?token=...``; a page opened without it (or with a wrong
one) shows everything but its controls are disabled, and the server refuses any control request
that does not carry the token, whatever the page sends.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from urllib.parse import parse_qs

__all__ = ["TOKEN_NAME", "ensure_token", "read_token", "token_matches", "token_from_search"]

TOKEN_NAME = "dashboard.token"


def ensure_token(folder: str | Path) -> str:
    """The folder's token, created (32 random URL-safe bytes, file mode 0600) when missing."""
    path = Path(folder) / TOKEN_NAME
    existing = read_token(folder)
    if existing:
        return existing
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{TOKEN_NAME}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    try:
        os.link(tmp, path)  # never replace a token another process has just written
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return read_token(folder) or token


def read_token(folder: str | Path) -> str | None:
    """The folder's token, or None when it has none."""
    try:
        text = (Path(folder) / TOKEN_NAME).read_text().strip()
    except OSError:
        return None
    return text or None


def token_from_search(search: str | None) -> str:
    """The ``token`` parameter of a URL's query string (``"?token=abc"`` -> ``"abc"``)."""
    values = parse_qs((search or "").lstrip("?")).get("token") or [""]
    return values[0]


def token_matches(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; False when the folder has no token or none was given."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
