"""`djmesh wallet address|balance|deposit|withdraw|channels` and `djmesh devnet`.

The EVM libraries (web3, eth-tester) are imported inside the handlers, so registering these
subcommands costs the rest of the CLI nothing. Amounts in --json output are decimal strings of wei
(they do not fit a JSON double).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from djmesh.node.cli import CliError
from djmesh.node.home import NodeHome
from djmesh.node.identity import read_passphrase

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from djmesh.ledger.evm.chain import EvmChain
    from djmesh.ledger.evm.config import LedgerConfig
    from djmesh.ledger.evm.summary import LedgerContracts

WALLET_ACTIONS = ("address", "balance", "deposit", "withdraw", "channels")
WEI_PER_ETH = 10**18
DEFAULT_TIMEOUT_S = 3600


def register(commands: Any) -> None:
    register_wallet(commands)
    register_devnet(commands)


def register_wallet(commands: Any) -> None:
    sub = commands.add_parser(
        "wallet",
        help="this node's EVM wallet: address | balance | deposit | withdraw | channels",
        description=(
            "This node's EVM wallet (encrypted keystore in HOME/wallet). address: print it (creating the "
            "wallet the first time). balance: ETH and what the contracts hold for you. deposit: open a "
            "listen channel to a DJ (--to ADDRESS --amount ETH) or top one up (--channel ID). withdraw: "
            "take back expired channels, refundable stakes and owed payments. channels: list your channels."
        ),
    )
    sub.add_argument("action", metavar="ACTION", help=" | ".join(WALLET_ACTIONS))
    sub.add_argument("--to", metavar="ADDRESS", help="deposit: the DJ the channel pays")
    sub.add_argument("--amount", metavar="ETH", help="deposit: amount in ETH (or e.g. 5000wei)")
    sub.add_argument("--channel", metavar="ID", help="deposit: top up this channel instead of opening one")
    sub.add_argument(
        "--timeout",
        metavar="SECONDS",
        help=f"deposit: channel lifetime from now (default {DEFAULT_TIMEOUT_S})",
    )
    sub.add_argument("--rpc-url", metavar="URL", help="override ledger.rpc_url from config.toml")
    sub.add_argument("--chain-id", metavar="ID", help="override ledger.chain_id from config.toml")
    sub.add_argument(
        "--passphrase-file", metavar="FILE", help="wallet passphrase (first line); or set $DJMESH_PASSPHRASE"
    )
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(handler=_user_errors(_wallet))


def register_devnet(commands: Any) -> None:
    sub = commands.add_parser(
        "devnet",
        help="run a local EVM dev chain with funded accounts and the djmesh contracts",
        description=(
            "Run a local EVM JSON-RPC dev chain on 127.0.0.1 (anvil if installed, else py-evm), deploy "
            "BattleEscrow and ListenChannel, fund the dev accounts and this home's wallet; until Ctrl-C."
        ),
    )
    sub.add_argument("--port", metavar="P", help="TCP port (default 8545)")
    sub.add_argument("--backend", metavar="NAME", default="auto", help="auto | anvil | py-evm (default auto)")
    sub.add_argument("--fund", action="append", metavar="ADDRESS", help="also fund this address (repeatable)")
    sub.add_argument("--json", action="store_true", help="print one JSON line when ready")
    sub.set_defaults(handler=_user_errors(_devnet))


def _user_errors(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Ledger failures (unreachable RPC, reverts, wrong passphrase) become one-line CLI errors."""

    def run(args: argparse.Namespace) -> int:
        from djmesh.ledger.evm.errors import LedgerError

        try:
            return handler(args)
        except LedgerError as exc:
            raise CliError(str(exc)) from exc

    return run


# ---- argument parsing ----------------------------------------------------------------------------


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, sort_keys=True), flush=True)


def parse_amount(text: str | None) -> int:
    """'0.25' (ETH) or '5000wei' as wei; positive, at most 18 decimals."""
    if text is None:
        raise CliError("deposit needs --amount ETH", code=2)
    raw = text.strip().lower()
    try:
        if raw.endswith("wei"):
            wei = int(raw.removesuffix("wei"), 10)
        else:
            value = Decimal(raw.removesuffix("eth"))
            if not value.is_finite():
                raise InvalidOperation
            scaled = value * WEI_PER_ETH
            if scaled != scaled.to_integral_value():
                raise CliError(f"--amount {text}: more than 18 decimals", code=2)
            wei = int(scaled)
    except (InvalidOperation, ValueError):
        raise CliError(f"--amount must be a number of ETH (or e.g. 5000wei), got {text!r}", code=2) from None
    if wei <= 0:
        raise CliError(f"--amount must be positive, got {text!r}", code=2)
    return wei


def _positive_int(text: str | None, flag: str, default: int | None = None) -> int:
    if text is None:
        if default is None:
            raise CliError(f"{flag} is required", code=2)
        return default
    try:
        value = int(text, 10)
    except ValueError:
        raise CliError(f"{flag} must be a whole number, got {text!r}", code=2) from None
    if value <= 0:
        raise CliError(f"{flag} must be positive, got {value}", code=2)
    return value


def _address(text: str | None, flag: str) -> str:
    from eth_utils.address import is_hex_address, to_checksum_address

    if not text:
        raise CliError(f"{flag} ADDRESS is required", code=2)
    if not is_hex_address(text):
        raise CliError(f"{flag} must be an EVM address (0x and 40 hex digits), got {text!r}", code=2)
    return str(to_checksum_address(text))


def format_eth(wei: int) -> str:
    text = f"{Decimal(wei) / WEI_PER_ETH:f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + " ETH"


# ---- wallet --------------------------------------------------------------------------------------


def _keystore(args: argparse.Namespace) -> Path:
    from djmesh.ledger.evm.keystore import keystore_path

    home: NodeHome = args.home_obj
    return keystore_path(home.root)


def _config(args: argparse.Namespace) -> LedgerConfig:
    from dataclasses import replace

    from djmesh.ledger.evm.config import LedgerConfig

    home: NodeHome = args.home_obj
    config = LedgerConfig.load(home.config_file)
    if args.rpc_url:
        config = replace(config, rpc_url=args.rpc_url)
    if args.chain_id:
        config = replace(config, chain_id=_positive_int(args.chain_id, "--chain-id"))
    return config


def _connect(config: LedgerConfig) -> EvmChain:
    from djmesh.ledger.evm.chain import EvmChain

    if not config.rpc_url:
        raise CliError(
            "no chain configured: set rpc_url in the [ledger] table of config.toml, or pass --rpc-url"
        )
    if not config.chain_id:
        raise CliError("set chain_id in the [ledger] table of config.toml (or pass --chain-id)")
    return EvmChain.connect(
        config.rpc_url,
        chain_id=config.chain_id,
        confirmations=config.confirmations,
        tx_timeout_s=config.tx_timeout_s,
    )


def _unlock(args: argparse.Namespace) -> LocalAccount:
    from djmesh.ledger.evm.keystore import load_account

    return load_account(_keystore(args), read_passphrase(args.passphrase_file))


def _contracts(chain: EvmChain, config: LedgerConfig, account: LocalAccount | None = None) -> LedgerContracts:
    from djmesh.ledger.evm.summary import LedgerContracts

    return LedgerContracts(chain, config, account)


def _wallet(args: argparse.Namespace) -> int:
    action = args.action
    if action not in WALLET_ACTIONS:
        raise CliError(f"unknown wallet action {action!r}; use one of {', '.join(WALLET_ACTIONS)}", code=2)
    if action != "deposit" and (args.to or args.amount or args.channel or args.timeout):
        raise CliError(
            f"--to, --amount, --channel and --timeout belong to `wallet deposit`, not {action}", code=2
        )
    handlers = {
        "address": _wallet_address,
        "balance": _wallet_balance,
        "deposit": _wallet_deposit,
        "withdraw": _wallet_withdraw,
        "channels": _wallet_channels,
    }
    return handlers[action](args)


def _wallet_address(args: argparse.Namespace) -> int:
    from djmesh.ledger.evm.keystore import create_keystore, read_address, scrypt_n_from_env

    path = _keystore(args)
    created = False
    if path.exists():
        address = read_address(path)
    else:
        passphrase = read_passphrase(args.passphrase_file)
        address = create_keystore(path, passphrase or b"", scrypt_n=scrypt_n_from_env())
        created = True
        if not args.json:
            print(f"created a new wallet in {path}", file=sys.stderr)
    if args.json:
        _print_json({"address": address, "created": created, "keystore": str(path)})
    else:
        print(address)
    return 0


def _wallet_balance(args: argparse.Namespace) -> int:
    from djmesh.ledger.evm.keystore import read_address
    from djmesh.ledger.evm.summary import balance_summary

    address = read_address(_keystore(args))
    config = _config(args)
    chain = _connect(config)
    result = balance_summary(chain, _contracts(chain, config), address)
    balance, in_channels, withdrawable = (
        int(result[key]) for key in ("balance_wei", "in_channels_wei", "withdrawable_wei")
    )
    if args.json:
        _print_json(result)
    else:
        print(f"{address} on chain {chain.chain_id}")
        print(f"balance      {format_eth(balance)}")
        print(f"in channels  {format_eth(in_channels)}")
        print(f"withdrawable {format_eth(withdrawable)}")
    return 0


def _wallet_deposit(args: argparse.Namespace) -> int:
    amount = parse_amount(args.amount)
    timeout = _positive_int(args.timeout, "--timeout", DEFAULT_TIMEOUT_S)
    channel_id = _positive_int(args.channel, "--channel") if args.channel else None
    payee = None if channel_id is not None else _address(args.to, "--to")
    if channel_id is not None and args.to:
        raise CliError("give either --to (open a channel) or --channel (top one up), not both", code=2)
    config = _config(args)
    account = _unlock(args)
    chain = _connect(config)
    channels = _contracts(chain, config, account).need_channels()
    if payee is not None:
        channel_id = channels.open(payee, amount, timeout)
        receipt_text = "opened"
    else:
        assert channel_id is not None
        channels.top_up(channel_id, amount, timeout)
        receipt_text = "topped up"
    terms = channels.channel(channel_id)
    assert terms is not None
    result = {
        "channel": channel_id,
        "payee": terms.payee,
        "deposit_wei": str(terms.deposit),
        "expires_at": terms.expires_at,
    }
    if args.json:
        _print_json(result)
    else:
        print(f"channel {channel_id} {receipt_text}: {format_eth(terms.deposit)} for {terms.payee}")
    return 0


def _wallet_withdraw(args: argparse.Namespace) -> int:
    from djmesh.ledger.evm.summary import channel_rows, refundable_battles

    config = _config(args)
    account = _unlock(args)
    chain = _connect(config)
    contracts = _contracts(chain, config, account)
    address = account.address
    now = chain.timestamp()
    done: list[dict[str, Any]] = []
    if contracts.channels is not None:
        for row in channel_rows(contracts, address, now):
            if row["role"] == "listener" and row["state"] == "expired":
                receipt = contracts.channels.expire(row["channel"])
                amount = int(row["deposit_wei"]) - int(row["paid_wei"])
                done.append(
                    {"kind": "channel", "id": row["channel"], "amount_wei": str(amount), "tx": _tx(receipt)}
                )
    if contracts.escrow is not None:
        for battle_id, stake in refundable_battles(contracts, address, now):
            receipt = contracts.escrow.refund(battle_id)
            done.append(
                {"kind": "refund", "id": battle_id.hex(), "amount_wei": str(stake), "tx": _tx(receipt)}
            )
    for name, client in (("escrow", contracts.escrow), ("listen_channel", contracts.channels)):
        if client is not None and (owed := client.owed(address)) > 0:
            receipt = client.withdraw()
            done.append({"kind": "owed", "id": name, "amount_wei": str(owed), "tx": _tx(receipt)})
    total = sum(int(item["amount_wei"]) for item in done)
    if args.json:
        _print_json(
            {"withdrawn_wei": str(total), "transactions": done, "balance_wei": str(chain.balance(address))}
        )
    elif not done:
        print("nothing to withdraw")
    else:
        for item in done:
            print(f"{item['kind']} {item['id']}: {format_eth(int(item['amount_wei']))}  ({item['tx']})")
        print(f"withdrew {format_eth(total)}")
    return 0


def _tx(receipt: Any) -> str:
    return "0x" + bytes(receipt["transactionHash"]).hex()


def _wallet_channels(args: argparse.Namespace) -> int:
    from djmesh.ledger.evm.keystore import read_address
    from djmesh.ledger.evm.summary import channel_rows

    address = read_address(_keystore(args))
    config = _config(args)
    chain = _connect(config)
    contracts = _contracts(chain, config)
    contracts.need_channels()
    rows = channel_rows(contracts, address, chain.timestamp())
    if args.json:
        _print_json(rows)
    elif not rows:
        print("(no channels)")
    else:
        for row in rows:
            print(
                f"#{row['channel']:<5} {row['role']:<8} {row['counterparty']}  "
                f"paid {format_eth(int(row['paid_wei']))} of {format_eth(int(row['deposit_wei']))}  {row['state']}"
            )
    return 0


# ---- devnet --------------------------------------------------------------------------------------


def _devnet(args: argparse.Namespace) -> int:
    from djmesh.ledger.evm.devnet import BACKENDS, run_devnet
    from djmesh.ledger.evm.keystore import read_address

    port = _positive_int(args.port, "--port", 8545)
    if port > 65535:
        raise CliError(f"--port must be at most 65535, got {port}", code=2)
    if args.backend not in BACKENDS:
        raise CliError(f"--backend must be one of {', '.join(BACKENDS)}, got {args.backend!r}", code=2)
    fund = [_address(a, "--fund") for a in args.fund or ()]
    keystore = _keystore(args)
    if keystore.exists():
        fund.insert(0, read_address(keystore))

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with run_devnet(port, backend=args.backend, fund=fund) as devnet:
            if args.json:
                _print_json(devnet.as_json())
            else:
                print(f"devnet ({devnet.backend}) at {devnet.rpc_url}, chain ID {devnet.chain_id}")
                for name, address in devnet.contracts.as_json().items():
                    print(f"  {name:<14} {address}")
                for account in devnet.accounts:
                    print(f"  dev account    {account.address}  key {account.private_key}")
                for address in devnet.funded:
                    print(f"  funded         {address}")
                print("for config.toml:\n" + devnet.ledger_config().to_toml(), end="")
                print("Ctrl-C stops the chain.", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
