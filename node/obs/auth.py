"""The obs-websocket v5 authentication string (no I/O).

OBS sends a ``salt`` and a ``challenge`` in Hello; the client answers
``base64(sha256(base64(sha256(password + salt)) + challenge))``, so the password never travels.
"""

from __future__ import annotations

import base64
import hashlib


def _b64_sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def auth_response(password: str, salt: str, challenge: str) -> str:
    return _b64_sha256(_b64_sha256(password + salt) + challenge)
