"""Ledger costs: gas of the djmesh contracts and the CPU cost of vouchers, next to the usual anchors.

    /work/venv/bin/python bench/ledger.py [--json]

EVM figures come from a fresh in-process py-evm chain (eth-tester, Prague rules): gas is set by the
EVM rules, so anvil or a public chain charge the same for the same call. Measured:

- channel_open_gas: ListenChannel.open, steady state (not the contract's first channel, whose
  counter write costs 17k more; that one is reported as channel_open_first_gas).
- channel_close_gas: ListenChannel.close by the DJ with a voucher below the deposit (pays the DJ,
  refunds the listener, deletes the channel).
- escrow_payout_gas: BattleEscrow.payout, 4-member committee (f = 1) with 3 signatures; other
  committee sizes in escrow_payout_gas_by_committee.
- seat bonds (seat_bond_figures): post_bond, agree_committee checking every member's bond, payout
  burning one forfeited bond, report_equivocation (two ecrecovers and a burn), release_bond; and
  ListenGate.create_battle checking both DJs' signatures and the escrow's DJs.
- voucher_sign_us / voucher_verify_us: median µs to sign a voucher (EIP-712 digest + secp256k1) and
  to check one (recover the signer), as djmesh does it; the *_eth_account_us fields are the same
  with eth_account's generic typed-data API, the reference a user would otherwise pick.

prove_s / verify_gas / vote_gas are the ZK listen gate's (ledger/zk), measured by bench/ledger_zk.py
(`zk_figures` runs it; --no-zk leaves them null). More figures: add a function to FIGURES.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ETH = 10**18
ANCHORS = {
    "semaphore_v4_vote_gas": 285_622,
    "semaphore_v4_prove_s": [0.3, 0.5],
    "channel_open_gas": 135_000,
    "channel_close_gas": 52_000,
}


def _median_us(fn: Callable[[], object], rounds: int = 2000) -> float:
    for _ in range(50):
        fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
    return round(statistics.median(samples) / 1000, 1)


def channel_figures() -> dict[str, Any]:
    from eth_account import Account

    from djmesh.ledger.evm import EvmChain, ListenChannels, TxSender, deploy_contracts, sign_voucher

    chain = EvmChain.in_process()
    contracts = deploy_contracts(TxSender(chain, Account.from_key(chain.dev_keys[0])))
    listener_key = chain.dev_keys[1]
    listener = ListenChannels(
        chain, contracts.listen_channel, TxSender(chain, Account.from_key(listener_key))
    )
    dj = ListenChannels(chain, contracts.listen_channel, TxSender(chain, Account.from_key(chain.dev_keys[2])))
    dj_address = dj.sender.address if dj.sender else ""

    def gas_of_last_block() -> int:
        return int(chain.w3.eth.get_block("latest")["gasUsed"])

    first = listener.open(dj_address, ETH, 3600)
    open_first = gas_of_last_block()
    steady = listener.open(dj_address, ETH, 3600)
    open_gas = gas_of_last_block()
    close = dj.close(sign_voucher(listener_key, dj.domain, steady, ETH // 3))
    claim = dj.claim(sign_voucher(listener_key, dj.domain, first, ETH // 4))
    return {
        "channel_open_gas": open_gas,
        "channel_open_first_gas": open_first,
        "channel_close_gas": int(close["gasUsed"]),
        "channel_claim_gas": int(claim["gasUsed"]),
    }


def escrow_figures(sizes: tuple[int, ...] = (4, 7, 10)) -> dict[str, Any]:
    from eth_account import Account

    from djmesh.ledger.evm import EvmChain, TxSender, deploy_contracts, quorum, sign_result
    from djmesh.ledger.evm.escrow import Escrow

    chain = EvmChain.in_process()
    contracts = deploy_contracts(TxSender(chain, Account.from_key(chain.dev_keys[0])))
    dj_a = Escrow(chain, contracts.escrow, TxSender(chain, Account.from_key(chain.dev_keys[1])))
    dj_b = Escrow(chain, contracts.escrow, TxSender(chain, Account.from_key(chain.dev_keys[2])))
    submitter = Escrow(chain, contracts.escrow, TxSender(chain, Account.from_key(chain.dev_keys[3])))
    by_size: dict[str, int] = {}
    other: dict[str, int] = {}
    for n in sizes:
        battle_id = hashlib.sha256(b"bench battle %d" % n).digest()
        keys = [hashlib.sha256(b"bench member %d %d" % (n, i)).digest() for i in range(n)]
        members = [Account.from_key(k).address for k in keys]
        receipt = dj_a.open(
            battle_id, dj_b.sender.address if dj_b.sender else "", chain.timestamp() + 3600, ETH
        )
        other.setdefault("escrow_open_gas", int(receipt["gasUsed"]))
        receipt = dj_b.stake(battle_id, ETH)
        other.setdefault("escrow_stake_gas", int(receipt["gasUsed"]))
        dj_a.agree_committee(battle_id, members)
        receipt = dj_b.agree_committee(battle_id, members)
        other[f"escrow_agree_committee_gas_{n}"] = int(receipt["gasUsed"])
        winner = dj_a.sender.address if dj_a.sender else ""
        result_hash = hashlib.sha256(b"bundle").digest()
        attestations = [
            sign_result(k, submitter.domain, battle_id, winner, result_hash) for k in keys[: quorum(n)]
        ]
        receipt = submitter.payout(battle_id, winner, result_hash, members, attestations)
        by_size[str(n)] = int(receipt["gasUsed"])
    return {"escrow_payout_gas": by_size[str(sizes[0])], "escrow_payout_gas_by_committee": by_size, **other}


def seat_bond_figures(sizes: tuple[int, ...] = (4, 7, 10)) -> dict[str, Any]:
    """Gas of the seat-bond calls: post_bond, agree_committee with every member bonded, payout burning
    one forfeit, report_equivocation, release_bond; and ListenGate.create_battle with the DJs' signatures."""
    from eth_account import Account

    from djmesh.ledger.evm import EvmChain, TxSender, deploy_contracts, quorum, sign_result
    from djmesh.ledger.evm.escrow import Escrow
    from djmesh.ledger.zk.gate import deploy_gate, gate_domain, sign_gate_battle

    chain = EvmChain.in_process()
    bank = TxSender(chain, Account.from_key(chain.dev_keys[0]))
    contracts = deploy_contracts(bank)

    def escrow(key: bytes) -> Escrow:
        return Escrow(chain, contracts.escrow, TxSender(chain, Account.from_key(key)))

    dj_a, dj_b, reporter = (escrow(chain.dev_keys[i]) for i in (1, 2, 3))
    a_address, b_address = (Account.from_key(chain.dev_keys[i]).address for i in (1, 2))
    bond = ETH // 10
    figures: dict[str, Any] = {}
    agree: dict[str, int] = {}
    payout: dict[str, int] = {}
    for n in sizes:
        battle_id = hashlib.sha256(b"bench bonded battle %d" % n).digest()
        keys = [hashlib.sha256(b"bench bonded member %d %d" % (n, i)).digest() for i in range(n)]
        members = [Account.from_key(k).address for k in keys]
        for member in members:
            bank.transact(to=member, value=ETH)
        dj_a.open(battle_id, b_address, chain.timestamp() + 3600, ETH, seat_bond=bond)
        posted = [int(escrow(k).post_bond(battle_id, bond)["gasUsed"]) for k in keys]
        figures.setdefault("escrow_post_bond_gas", max(posted))
        dj_a.agree_committee(battle_id, members)
        agree[str(n)] = int(dj_b.agree_committee(battle_id, members)["gasUsed"])
        result_hash = hashlib.sha256(b"bundle").digest()
        forfeit = sorted(members, key=lambda m: int(m, 16))[-1:]
        signers = [k for k, m in zip(keys, members, strict=True) if m not in forfeit][: quorum(n)]
        attestations = [
            sign_result(k, reporter.domain, battle_id, a_address, result_hash, forfeit) for k in signers
        ]
        payout[str(n)] = int(
            reporter.payout(battle_id, a_address, result_hash, members, attestations)["gasUsed"]
        )
        if n == sizes[0]:
            second = sign_result(
                signers[0], reporter.domain, battle_id, b_address, hashlib.sha256(b"x").digest()
            )
            receipt = reporter.report_equivocation(attestations[0], second)
            figures["escrow_report_equivocation_gas"] = int(receipt["gasUsed"])
            chain.advance_time(3601)
            figures["escrow_release_bond_gas"] = int(escrow(signers[1]).release_bond(battle_id)["gasUsed"])
    figures["escrow_agree_committee_bonded_gas_by_committee"] = agree
    figures["escrow_payout_one_forfeit_gas_by_committee"] = payout

    gate = deploy_gate(bank, escrow=contracts.escrow)
    battle_id = hashlib.sha256(b"bench gate battle").digest()
    ends_at = chain.timestamp() + 3600
    dj_a.open(battle_id, b_address, ends_at)
    djs = [a_address, b_address]
    domain = gate_domain(chain.chain_id, gate)
    signatures = [
        sign_gate_battle(chain.dev_keys[i], domain, battle_id, djs, 10**15, 0, ends_at).as_abi()
        for i in (1, 2)
    ]
    from djmesh.ledger.artifacts import load_artifact

    contract = chain.w3.eth.contract(address=gate, abi=load_artifact("ListenGate").abi)
    call = contract.functions.create_battle(battle_id, djs, 10**15, 0, ends_at, signatures)
    figures["gate_create_battle_gas"] = int(bank.transact(call)["gasUsed"])
    return figures


def voucher_figures() -> dict[str, Any]:
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    from djmesh.ledger.evm import sign_voucher
    from djmesh.ledger.evm.eip712 import Signature
    from djmesh.ledger.evm.vouchers import VOUCHER_TYPES, channel_domain

    key = hashlib.sha256(b"bench listener").digest()
    domain = channel_domain(31337, "0x2946259E0334f33A064106302415aD3391BeD384")
    voucher = sign_voucher(key, domain, 7, 123_456_789)
    typed = {"channelId": 7, "amount": 123_456_789}
    reference = Account.sign_typed_data(key, domain.as_typed_data(), VOUCHER_TYPES, typed)
    assert Signature.from_bytes(bytes(reference.signature)) == voucher.signature  # same bytes, both RFC 6979
    counter = iter(range(10**9))
    return {
        "voucher_sign_us": _median_us(lambda: sign_voucher(key, domain, 7, next(counter))),
        "voucher_verify_us": _median_us(lambda: voucher.signer(domain)),
        "voucher_sign_eth_account_us": _median_us(
            lambda: Account.sign_typed_data(key, domain.as_typed_data(), VOUCHER_TYPES, typed), rounds=300
        ),
        "voucher_verify_eth_account_us": _median_us(
            lambda: Account.recover_message(
                encode_typed_data(domain.as_typed_data(), VOUCHER_TYPES, typed), signature=reference.signature
            ),
            rounds=300,
        ),
    }


def zk_figures() -> dict[str, Any]:
    """prove_s, verify_gas and vote_gas of the ZK listen gate, from bench/ledger_zk.py when it is there."""
    path = Path(__file__).resolve().parent / "ledger_zk.py"
    if not path.exists():
        return no_zk_figures()
    spec = importlib.util.spec_from_file_location("ledger_zk", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    zk: dict[str, Any] = module.measure()
    return {"prove_s": zk["prove_s"], "verify_gas": zk["verify_gas"], "vote_gas": zk["vote_gas"]}


def no_zk_figures() -> dict[str, Any]:
    return {"prove_s": None, "verify_gas": None, "vote_gas": None}


#: each returns some of the figures; add a function here to add figures
FIGURES: tuple[Callable[[], dict[str, Any]], ...] = (
    zk_figures,
    channel_figures,
    escrow_figures,
    seat_bond_figures,
    voucher_figures,
)
HEADLINE = (
    "prove_s", "verify_gas", "vote_gas", "channel_open_gas", "channel_close_gas", "escrow_payout_gas",
    "voucher_sign_us", "voucher_verify_us",
)  # fmt: skip


def measure(*, zk: bool = True) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for source in FIGURES if zk else (no_zk_figures, *FIGURES[1:]):
        figures.update(source())
    figures["anchors"] = ANCHORS
    figures["load_avg_1m"] = round(os.getloadavg()[0], 2)
    return {key: figures.pop(key) for key in HEADLINE if key in figures} | figures


def _text(figures: dict[str, Any]) -> str:
    anchors = {
        "prove_s": "Semaphore V4 prove 0.3-0.5 s",
        "vote_gas": f"Semaphore V4 vote {ANCHORS['semaphore_v4_vote_gas']:,}",
        "channel_open_gas": f"payment channel open ~{ANCHORS['channel_open_gas']:,}",
        "channel_close_gas": f"payment channel close ~{ANCHORS['channel_close_gas']:,}",
        "voucher_sign_us": f"eth_account sign_typed_data {figures.get('voucher_sign_eth_account_us')}",
        "voucher_verify_us": f"eth_account recover {figures.get('voucher_verify_eth_account_us')}",
    }
    lines = [f"{'figure':<22} {'djmesh':>12}   reference"]
    for key in HEADLINE:
        value = figures.get(key)
        shown = "-" if value is None else (f"{value:,}" if isinstance(value, int) else str(value))
        lines.append(f"{key:<22} {shown:>12}   {anchors.get(key, '')}")
    lines.append(
        f"escrow payout gas by committee size (3f+1 -> 2f+1 signatures): {figures['escrow_payout_gas_by_committee']}"
    )
    lines.append(
        f"seat bonds: post_bond {figures['escrow_post_bond_gas']:,}, report_equivocation "
        f"{figures['escrow_report_equivocation_gas']:,}, release_bond {figures['escrow_release_bond_gas']:,}; "
        f"agree_committee (all bonded) {figures['escrow_agree_committee_bonded_gas_by_committee']}; "
        f"payout burning one forfeit {figures['escrow_payout_one_forfeit_gas_by_committee']}; "
        f"ListenGate.create_battle with 2 DJ signatures {figures['gate_create_battle_gas']:,}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--no-zk", action="store_true", help="leave the ZK figures null (they take ~20 s)")
    args = parser.parse_args(argv)
    figures = measure(zk=not args.no_zk)
    print(json.dumps(figures) if args.json else _text(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
