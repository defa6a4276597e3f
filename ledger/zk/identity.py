"""A listener's secret identity for one paid listen unit: two random field elements, kept on the listener's disk."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from djmesh.ledger.zk.grain import FIELD_MODULUS
from djmesh.ledger.zk.poseidon import poseidon


@dataclass(frozen=True)
class Identity:
    """commitment = Poseidon(nullifier_key, trapdoor) goes on-chain; the two secrets never leave the listener."""

    nullifier_key: int
    trapdoor: int

    def __post_init__(self) -> None:
        for name in ("nullifier_key", "trapdoor"):
            value = getattr(self, name)
            if not 0 < value < FIELD_MODULUS:
                raise ValueError(f"{name} must be a non-zero BN254 field element")

    @classmethod
    def generate(cls) -> Identity:
        """Fresh secrets per listen unit: reusing one across battles would link the payments."""
        return cls(1 + secrets.randbelow(FIELD_MODULUS - 1), 1 + secrets.randbelow(FIELD_MODULUS - 1))

    @property
    def commitment(self) -> int:
        return poseidon(self.nullifier_key, self.trapdoor)

    def nullifier(self, scope: int) -> int:
        return poseidon(self.nullifier_key, scope)

    def save(self, path: Path) -> None:
        """Write owner-only (0600); losing the file loses the vote and the reward claim."""
        data = json.dumps({"nullifier_key": hex(self.nullifier_key), "trapdoor": hex(self.trapdoor)})
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data + "\n")

    @classmethod
    def load(cls, path: Path) -> Identity:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(int(data["nullifier_key"], 16), int(data["trapdoor"], 16))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path} is not a listen identity: {exc}") from None
