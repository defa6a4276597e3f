"""Who may open a battle in ListenGate (real py-evm chain): the battle ID is public once announced, so a
squatter must not be able to take it with its own payees or its own price."""

from __future__ import annotations

import hashlib

import pytest
from web3.contract import Contract

from djmesh.ledger.artifacts import load_artifact
from djmesh.ledger.evm import TransactionFailedError
from djmesh.ledger.evm.eip712 import Signature
from djmesh.ledger.zk.gate import deploy_gate, gate_domain, sign_gate_battle
from tests.ledger.conftest import Evm

DJ_A, DJ_B, SQUATTER, SQUATTER_2 = 1, 2, 5, 6
PRICE, REWARD_BPS = 10**15, 0


def gate_at(evm: Evm, address: str) -> Contract:
    contract = evm.chain.w3.eth.contract(address=address, abi=load_artifact("ListenGate").abi)
    assert isinstance(contract, Contract)
    return contract


def signed(
    evm: Evm, gate: Contract, signers: list[int], battle_id: bytes, djs: list[str], price: int, ends_at: int
) -> list[Signature]:
    domain = gate_domain(evm.chain.chain_id, gate.address)
    return [sign_gate_battle(evm.key(n), domain, battle_id, djs, price, REWARD_BPS, ends_at) for n in signers]


def create(
    evm: Evm,
    gate: Contract,
    sender: int,
    battle_id: bytes,
    djs: list[str],
    price: int,
    ends_at: int,
    sigs: list[Signature],
) -> None:
    call = gate.functions.create_battle(
        battle_id, djs, price, REWARD_BPS, ends_at, [s.as_abi() for s in sigs]
    )
    evm.sender(sender).transact(call)


def test_a_squatter_cannot_open_an_announced_battle_in_the_gate(evm: Evm) -> None:
    gate = gate_at(evm, deploy_gate(evm.sender(0), escrow=evm.contracts.escrow))
    battle_id = hashlib.sha256(b"announced battle").digest()
    ends_at = evm.chain.timestamp() + 3600
    real = [evm.address(DJ_A), evm.address(DJ_B)]
    own = [evm.address(SQUATTER), evm.address(SQUATTER_2)]
    # before DJ A opens the escrow entry nobody can open the gate battle, not even the DJs
    with pytest.raises(TransactionFailedError, match="not open in the escrow"):
        create(
            evm,
            gate,
            DJ_A,
            battle_id,
            real,
            PRICE,
            ends_at,
            signed(evm, gate, [DJ_A, DJ_B], battle_id, real, PRICE, ends_at),
        )
    evm.escrow(DJ_A).open(
        battle_id, evm.address(DJ_B), ends_at
    )  # before the announcement, so before the ID is public

    # the squatter names itself as payee, with valid signatures of its own keys
    with pytest.raises(TransactionFailedError, match="not the escrow's DJs"):
        create(
            evm,
            gate,
            SQUATTER,
            battle_id,
            own,
            PRICE,
            ends_at,
            signed(evm, gate, [SQUATTER, SQUATTER_2], battle_id, own, PRICE, ends_at),
        )
    # the squatter names the real DJs at a price of its choosing, signing in their place
    silly = 10**20
    with pytest.raises(TransactionFailedError, match="did not sign these terms"):
        create(
            evm,
            gate,
            SQUATTER,
            battle_id,
            real,
            silly,
            ends_at,
            signed(evm, gate, [SQUATTER, SQUATTER_2], battle_id, real, silly, ends_at),
        )
    # ... or replays the DJs' signatures over other terms
    consent = signed(evm, gate, [DJ_A, DJ_B], battle_id, real, PRICE, ends_at)
    with pytest.raises(TransactionFailedError, match="did not sign these terms"):
        create(evm, gate, SQUATTER, battle_id, real, silly, ends_at, consent)
    with pytest.raises(TransactionFailedError, match="one signature per DJ"):
        create(evm, gate, SQUATTER, battle_id, real, PRICE, ends_at, consent[:1])
    assert gate.functions.battles(battle_id).call()[1] == 0  # still not open

    # with both DJs' consent anyone may submit it (here the squatter, who gains nothing by it)
    create(evm, gate, SQUATTER, battle_id, real, PRICE, ends_at, consent)
    assert gate.functions.dj_list(battle_id).call() == real
    assert gate.functions.battles(battle_id).call()[1] == PRICE
    with pytest.raises(TransactionFailedError, match="battle exists"):
        create(evm, gate, DJ_A, battle_id, real, PRICE, ends_at, consent)


def test_without_an_escrow_the_gate_still_needs_every_djs_signature(evm: Evm) -> None:
    gate = gate_at(evm, deploy_gate(evm.sender(0)))
    battle_id = hashlib.sha256(b"no escrow").digest()
    ends_at = evm.chain.timestamp() + 3600
    real = [evm.address(DJ_A), evm.address(DJ_B)]
    half = signed(evm, gate, [DJ_A, SQUATTER], battle_id, real, PRICE, ends_at)
    with pytest.raises(TransactionFailedError, match="did not sign these terms"):
        create(evm, gate, SQUATTER, battle_id, real, PRICE, ends_at, half)
    # malleable twin of a valid signature (high s) is refused
    good = signed(evm, gate, [DJ_A, DJ_B], battle_id, real, PRICE, ends_at)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    twin = Signature(55 - good[0].v, good[0].r, (n - int.from_bytes(good[0].s, "big")).to_bytes(32, "big"))
    with pytest.raises(TransactionFailedError, match="malleable"):
        create(evm, gate, SQUATTER, battle_id, real, PRICE, ends_at, [twin, good[1]])
    create(evm, gate, SQUATTER, battle_id, real, PRICE, ends_at, good)
    assert gate.functions.dj_list(battle_id).call() == real
