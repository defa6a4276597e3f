"""The node's EVM account and how it talks to a chain: keystore, nonces, confirmations, RPC errors."""

from __future__ import annotations

import json
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from eth_account import Account

from djmesh.ledger.evm import (
    ChainMismatchError,
    ChainUnreachableError,
    EvmChain,
    TransactionFailedError,
    TxSender,
    WalletError,
    create_keystore,
    load_account,
    read_address,
)
from djmesh.ledger.evm.rpc_server import PyEvmRpc, serve
from tests.ledger.conftest import ETH, Evm

FAST = 2**10  # scrypt cost for tests only


def test_keystore_is_encrypted_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "wallet" / "keystore.json"
    key = bytes(range(1, 33))
    address = create_keystore(path, b"correct horse", private_key=key, scrypt_n=FAST)
    assert address == Account.from_key(key).address
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key.hex() not in path.read_text()
    assert json.loads(path.read_text())["crypto"]["kdf"] == "scrypt"
    assert read_address(path) == address  # no passphrase needed
    assert load_account(path, b"correct horse").key == key
    with pytest.raises(WalletError, match="wrong passphrase"):
        load_account(path, b"wrong")
    with pytest.raises(WalletError, match="encrypted: give the passphrase"):
        load_account(path, None)
    with pytest.raises(WalletError, match="refusing to overwrite"):
        create_keystore(path, b"other", scrypt_n=FAST)
    assert load_account(path, b"correct horse").key == key


def test_a_wallet_needs_a_passphrase_and_damage_is_reported(tmp_path: Path) -> None:
    with pytest.raises(WalletError, match="needs a passphrase"):
        create_keystore(tmp_path / "k.json", b"", scrypt_n=FAST)
    assert not (tmp_path / "k.json").exists()
    with pytest.raises(WalletError, match="no wallet"):
        read_address(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(WalletError, match="not a readable keystore"):
        read_address(tmp_path / "bad.json")
    (tmp_path / "v1.json").write_text('{"version": 1}')
    with pytest.raises(WalletError, match="v3"):
        load_account(tmp_path / "v1.json", b"x")


def test_concurrent_sends_from_one_account_get_distinct_nonces(evm: Evm) -> None:
    sender = evm.sender(1)
    start = evm.chain.w3.eth.get_transaction_count(sender.address)
    recipients = [evm.address(n) for n in (2, 3, 4, 5)] * 4
    with ThreadPoolExecutor(max_workers=4) as pool:
        receipts = list(pool.map(lambda to: sender.transact(to=to, value=1), recipients))
    nonces = sorted(evm.chain.w3.eth.get_transaction(r["transactionHash"])["nonce"] for r in receipts)
    assert nonces == list(range(start, start + len(recipients)))
    assert all(r["status"] == 1 for r in receipts)


def test_a_refused_transaction_does_not_use_up_a_nonce(evm: Evm) -> None:
    sender = evm.sender(1)
    channels = evm.channels(1)
    channels.sender = sender
    nonce = evm.chain.w3.eth.get_transaction_count(sender.address)
    with pytest.raises(TransactionFailedError, match="channel is not open"):
        channels.expire(99)
    receipt = sender.transact(to=evm.address(2), value=1)
    assert evm.chain.w3.eth.get_transaction(receipt["transactionHash"])["nonce"] == nonce
    # a nonce taken by another client of the same key is picked up from the node
    other = TxSender(evm.chain, Account.from_key(evm.key(1)))
    other.transact(to=evm.address(2), value=1)
    receipt = sender.transact(to=evm.address(2), value=1)
    assert evm.chain.w3.eth.get_transaction(receipt["transactionHash"])["nonce"] == nonce + 2


def test_receipts_wait_for_the_configured_confirmations() -> None:
    chain = EvmChain.in_process(confirmations=3)
    sender = TxSender(chain, Account.from_key(chain.dev_keys[1]))
    done = threading.Event()
    worker = threading.Thread(
        target=lambda: (sender.transact(to=Account.create().address, value=ETH), done.set())
    )
    worker.start()
    assert not done.wait(0.5)  # mined in one block, but only 1 of 3 confirmations
    chain.mine(1)
    assert not done.wait(0.3)
    chain.mine(1)
    assert done.wait(10)
    worker.join()


def test_connect_checks_reachability_and_chain_id() -> None:
    with pytest.raises(
        ChainUnreachableError, match=r"no EVM JSON-RPC node answers at http://127\.0\.0\.1:9/ "
    ):
        EvmChain.connect("http://127.0.0.1:9/", request_timeout_s=2)
    with pytest.raises(ChainUnreachableError, match="must start with http"):
        EvmChain.connect("127.0.0.1:8545")
    local = EvmChain.in_process()
    server = serve(PyEvmRpc(local.tester), 0)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(ChainMismatchError, match="serves chain ID"):
            EvmChain.connect(url, chain_id=1)
        remote = EvmChain.connect(url, chain_id=local.chain_id)
        sender = TxSender(remote, Account.from_key(local.dev_keys[1]))
        target = Account.create().address
        sender.transact(to=target, value=ETH)
        assert local.balance(target) == ETH
    finally:
        server.shutdown()
        server.server_close()
