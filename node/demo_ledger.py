"""The demo battle's money, on real chains: an EVM (in-process py-evm, or `--rpc URL`) and an in-process SVM.

Every participant gets an EVM account and a Solana keypair derived from its demo name (dev chains only:
these keys are public by construction). What happens is what real nodes do, over the same mesh:

- the DJs stake the prize in BattleEscrow, a viewer sponsors it, the committee's attestations travel
  over gossip and the winner's node claims the pot (`node.battle.escrow`);
- the DJs' battle streams are priced: every listener's node opens a ListenChannel and pays vouchers
  while it listens, and each DJ's node closes the channels when its set ends (`node.live.listen_*`);
- each viewer pays one listen unit into ListenGate with a fresh identity commitment, and after the
  result votes anonymously: a zero-knowledge proof sent to a relaying peer, whose wallet submits it
  (`node.battle.anonymous_votes`);
- after the result, each viewer tips the winner in SOL and the sponsor pays a token prize, each with a
  memo naming the battle (`ledger.solana`).

Every figure in `summary()` is read back from the chains.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from solders.keypair import Keypair

from djmesh.ledger.evm.chain import EvmChain
from djmesh.ledger.evm.deploy import Deployment, deploy_contracts
from djmesh.ledger.evm.errors import LedgerError
from djmesh.ledger.evm.sender import TxSender
from djmesh.ledger.solana import LiteSVMBackend, Payment, SolanaLedger, battle_memo
from djmesh.ledger.zk.gate import deploy_gate
from djmesh.node.battle.anonymous_votes import AnonymousVotes
from djmesh.node.battle.escrow import BattleEscrowService
from djmesh.node.errors import NodeError
from djmesh.node.live.listen_seller import ListenSeller
from djmesh.node.services import NodeLedger, NodeServices

ETH = 10**18
BANK_WEI = 1_000 * ETH
FUND_WEI = 10 * ETH
STAKE_WEI = ETH  # each DJ
SPONSOR_WEI = ETH // 2  # viewer-1 sponsors the prize
WEI_PER_S = 10**13  # a listener pays 0.00001 ETH per second of a set
VOUCHER_INTERVAL_S = 2
LISTEN_UNIT_WEI = 10**15  # one paid listen unit in ListenGate: the right to one anonymous vote
SOL_AIRDROP_LAMPORTS = 2 * 10**9
SOL_TIP_LAMPORTS = 10**7  # 0.01 SOL from each viewer to the winner
TOKEN_DECIMALS = 6
TOKEN_PRIZE = 50 * 10**TOKEN_DECIMALS  # the sponsor's token prize


def _seed(kind: str, name: str) -> bytes:
    return hashlib.sha256(f"djmesh-demo/{kind}/{name}".encode()).digest()


@dataclass
class Money:
    """One participant's wallets; its node's ledger services once it runs (``services``)."""

    name: str
    account: LocalAccount
    sender: TxSender
    sol: SolanaLedger
    services: NodeServices | None = None

    @property
    def seller(self) -> ListenSeller | None:
        return self.services.seller if self.services is not None else None

    @property
    def escrow(self) -> BattleEscrowService | None:
        return self.services.escrow if self.services is not None else None

    @property
    def votes(self) -> AnonymousVotes | None:
        return self.services.votes if self.services is not None else None


@dataclass
class DemoLedger:
    chain: EvmChain
    bank: TxSender
    contracts: Deployment
    gate: str
    svm: LiteSVMBackend
    label: str
    money: dict[str, Money] = field(default_factory=dict)
    sol_payments: list[Payment] = field(default_factory=list)

    @classmethod
    async def open(cls, rpc: str | None) -> DemoLedger:
        """Connect (or start an in-process chain), fund the demo's bank account and deploy the contracts."""
        chain = await asyncio.to_thread(_connect, rpc)
        bank = TxSender(chain, Account.from_key(_seed("evm", "bank")))
        await asyncio.to_thread(_fund_bank, chain, bank.address)
        contracts = await asyncio.to_thread(deploy_contracts, bank)
        gate = await asyncio.to_thread(deploy_gate, bank)
        return cls(chain, bank, contracts, gate, LiteSVMBackend(), rpc or "in-process py-evm (eth-tester)")

    async def fund(self, name: str) -> Money:
        """``name``'s accounts, funded from the bank (EVM) and by airdrop (SVM)."""
        account: LocalAccount = Account.from_key(_seed("evm", name))
        await asyncio.to_thread(self.bank.transact, to=account.address, value=FUND_WEI)
        sol = SolanaLedger(self.svm, Keypair.from_seed(_seed("sol", name)))
        await sol.airdrop(SOL_AIRDROP_LAMPORTS)
        money = Money(name, account, TxSender(self.chain, account), sol)
        self.money[name] = money
        return money

    def node_ledger(self, money: Money) -> NodeLedger:
        """What ``NodeServices`` runs the escrow, pay-per-listen and votes on, for ``money``'s wallet."""
        return NodeLedger(
            self.chain,
            money.sender,
            escrow=self.contracts.escrow,
            listen_channel=self.contracts.listen_channel,
            listen_gate=self.gate,
        )

    async def register_voters(self, battle_id: bytes, voters: list[str]) -> None:
        """Each voter pays a listen unit in the battle's gate entry (its DJ A's node opened it)."""
        await asyncio.gather(
            *(self._votes(name).register(battle_id, max_price_wei=LISTEN_UNIT_WEI) for name in voters)
        )

    async def vote(self, battle_id: bytes, choices: dict[str, str]) -> None:
        """Each voter proves its paid membership and votes through a relaying peer (never its own wallet)."""
        await asyncio.gather(*(self._votes(name).vote(battle_id, side) for name, side in choices.items()))

    def _votes(self, name: str) -> AnonymousVotes:
        votes = self.money[name].votes
        if votes is None:
            raise NodeError(f"demo: {name} runs no vote service")
        return votes

    async def solana_prizes(self, battle_id: bytes, winner: str, sponsor: str, tippers: list[str]) -> None:
        """Viewers tip the winner in SOL; the sponsor pays a token prize; each with the battle's memo."""
        memo = battle_memo(battle_id)
        to = self.money[winner].sol.address
        for name in tippers:
            self.sol_payments.append(await self.money[name].sol.pay_sol(to, SOL_TIP_LAMPORTS, memo))
        payer = self.money[sponsor].sol
        mint = await payer.create_mint(TOKEN_DECIMALS)
        await payer.mint_to(mint, payer.address, TOKEN_PRIZE)
        self.sol_payments.append(await payer.pay_token(mint, to, TOKEN_PRIZE, TOKEN_DECIMALS, memo))

    async def summary(self, battle_id: bytes, winner: str) -> dict[str, Any]:
        """The demo JSON's ``ledger`` block; every figure read back from the chains."""
        winner_money = self.money[winner]
        assert winner_money.escrow is not None
        payout = await winner_money.escrow.payout_summary(battle_id)
        if payout is None:
            raise NodeError("demo: the prize was not paid out (see the logs in the demo home)")
        payments = [row for m in self.money.values() if m.seller is not None for row in m.seller.payments()]
        votes: list[dict[str, str]] = []
        tally: list[int] = []
        for money in self.money.values():
            if money.votes is not None:
                report = await money.votes.report(battle_id)
                votes += report["cast"]
                tally = report["tally"]
        sol_report = await winner_money.sol.chain_report(self.sol_payments) if self.sol_payments else {}
        return {
            "chain": {"evm": self.label, "chain_id": self.chain.chain_id, "solana": "in-process LiteSVM"},
            **payout,
            "listener_payments": payments,
            "votes": votes,
            "vote_tally": dict(zip(("a", "b"), tally, strict=False)),
            "solana": {
                "signatures": sol_report.get("signatures", []),
                "payments": sol_report.get("payments", []),
                "balances": sol_report.get("balances", {}),
            },
        }


def _connect(rpc: str | None) -> EvmChain:
    try:
        return EvmChain.in_process() if rpc is None else EvmChain.connect(rpc)
    except LedgerError as exc:
        raise NodeError(f"--rpc: {exc}") from exc


def _fund_bank(chain: EvmChain, bank: str) -> None:
    """Fund the bank from the chain's dev accounts: a known key (in-process) or an unlocked one (a devnet)."""
    if chain.dev_keys:
        TxSender(chain, Account.from_key(chain.dev_keys[0])).transact(to=bank, value=BANK_WEI)
        return
    if chain.balance(bank) >= BANK_WEI // 2:
        return
    unlocked = chain.w3.eth.accounts
    if not unlocked:
        raise NodeError(
            "--rpc: the chain has no unlocked dev account to fund the demo; run `djmesh devnet` and pass its URL"
        )
    tx = chain.w3.eth.send_transaction({"from": unlocked[0], "to": bank, "value": BANK_WEI})  # type: ignore[typeddict-item]
    chain.wait(bytes(tx))
