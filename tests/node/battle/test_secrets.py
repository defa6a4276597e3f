"""Crash-safe battle secrets: a committee member restarted between commit and reveal still reveals."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest

from djmesh.node.battle.secrets import BattleSecrets
from djmesh.node.battle.service import BattleService
from djmesh.node.live.service import LiveService
from djmesh.protocol.battle import VerdictCommit, VerdictReveal
from djmesh.protocol.consensus import build_result, commitment, verify_result
from djmesh.protocol.envelope import sign
from tests.helpers.network import bootstrap_server, make_node, wait_until
from tests.protocol.battle_helpers import Battle, key, scores

pytestmark = pytest.mark.timeout(120)


def test_secrets_are_private_files_that_round_trip(tmp_path: Path) -> None:
    b = Battle()
    secrets = BattleSecrets(tmp_path / "secrets")
    sealed = b.seal(b.members[0], scores(800, 500))
    secrets.save_sealed(b.id, sealed)
    secrets.save_seed(b.spec.seed_commit, b.secret_a)
    for path in (secrets.root / f"{b.id.hex()}.verdict", secrets.root / f"{b.spec.seed_commit.hex()}.seed"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets.root.stat().st_mode) == 0o700
    again = BattleSecrets(tmp_path / "secrets")  # a new process reads the same files
    assert again.load_sealed(b.id) == sealed
    assert again.load_seed(b.spec.seed_commit) == b.secret_a
    assert again.load_sealed(bytes(32)) is None
    with pytest.raises(ValueError):
        again.save("../escape", b"x")


async def test_a_member_restarted_between_commit_and_reveal_reveals_from_disk(tmp_path: Path) -> None:
    async with bootstrap_server() as boot:
        # first life: the member seals and commits (the service writes the secret before publishing)
        node = make_node(tmp_path, "member", boot)
        async with node:
            me = node.identity.signing_key
            probe = Battle(viewers=3, extra_viewers=(me,))
            # place the battle so that, now, every member has committed and the reveal window is open
            now = int(time.time() * 1000)
            t0 = now - (probe.spec.commit_by - probe.t0) - 1000
            b = Battle(viewers=3, extra_viewers=(me,), t0=t0)
            assert bytes(me.verify_key) in {bytes(k.verify_key) for k in b.members}
            sealed = {bytes(m.verify_key): b.seal(m, scores(800, 500)) for m in b.members}
            commits = [b.commit(m, sealed[bytes(m.verify_key)]) for m in b.members]
            BattleSecrets(node.home.root / "battle-secrets").save_sealed(b.id, sealed[bytes(me.verify_key)])
            node.store.add_many([*b.base(), *commits])
            # ... and crashes here, before it revealed (nothing but the store and the secret survive)
        # second life
        node = make_node(tmp_path, "member", boot)
        async with node, LiveService(node) as live, BattleService(node, live, auto_join=False) as battles:

            def my_reveal() -> VerdictReveal | None:
                for stored in node.store.query(kind="battle_reveal", limit=10):
                    if stored.envelope.author == bytes(me.verify_key):
                        assert isinstance(stored.envelope.message, VerdictReveal)
                        return stored.envelope.message
                return None

            await wait_until(lambda: my_reveal() is not None, what="the restarted member's reveal")
            reveal = my_reveal()
            assert reveal is not None
            mine = next(c for c in commits if c.author == bytes(me.verify_key))
            assert isinstance(mine.message, VerdictCommit)
            assert commitment(reveal.verdict, reveal.salt) == mine.message.commitment
            # its vote counts: no no_reveal offence against it in the result
            envelopes = [*b.base(), *commits]
            envelopes += [b.reveal(m, sealed[bytes(m.verify_key)]) for m in b.members if m is not me]
            envelopes += [
                e for e in battles.battles[b.id].machine.reveals if e.author == bytes(me.verify_key)
            ]
            result = verify_result(sign(build_result(envelopes), key(999), created_at_ms=now + 1).wire)
            assert result.revealed == 4 and result.offences == ()
