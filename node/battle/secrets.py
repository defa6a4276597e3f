"""Battle secrets that must survive a restart: a member's sealed verdict and salt, a DJ's seed secret.

Each is written (mode 0600, in a 0700 directory under the node's home) and flushed to disk *before*
the commitment that binds it is published, so a node restarted between commit and reveal still
opens its commitment instead of earning a ``no_reveal`` offence.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from djmesh.protocol.cbor import decode, encode
from djmesh.protocol.consensus import SealedVerdict
from djmesh.protocol.envelope import decode_envelope
from djmesh.protocol.errors import ProtocolError

_NAME = re.compile(r"[0-9a-f]{64}\.(seed|verdict)")


class BattleSecrets:
    """Small files named by what they open (a battle ID or a seed commitment, hex)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a secret name: {name!r}")
        return self.root / name

    def save(self, name: str, data: bytes) -> None:
        """Write ``data`` durably, readable by the owner only, replacing any earlier copy atomically."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(name)
        tmp = path.with_suffix(path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dir_fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def load(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None

    # -- what the battle service keeps --

    def save_sealed(self, battle_id: bytes, sealed: SealedVerdict) -> None:
        self.save(battle_id.hex() + ".verdict", encode({"verdict": sealed.verdict.wire, "salt": sealed.salt}))

    def load_sealed(self, battle_id: bytes) -> SealedVerdict | None:
        data = self.load(battle_id.hex() + ".verdict")
        if data is None:
            return None
        try:
            value = decode(data)
            if not isinstance(value, dict):
                return None
            verdict, salt = value.get("verdict"), value.get("salt")
            if not isinstance(verdict, bytes) or not isinstance(salt, bytes):
                return None
            return SealedVerdict(decode_envelope(verdict, now_ms=None), salt)
        except ProtocolError:
            return None

    def save_seed(self, commitment: bytes, secret: bytes) -> None:
        self.save(commitment.hex() + ".seed", secret)

    def load_seed(self, commitment: bytes) -> bytes | None:
        return self.load(commitment.hex() + ".seed")
