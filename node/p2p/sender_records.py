"""The signed peer record on every pubsub RPC: checked once per sender and record, not once per RPC.

py-libp2p attaches the sender's signed peer record to every pubsub RPC it sends, and checks the
record's Ed25519 signature on every one it receives (twice for an RPC carrying control messages:
once when it is read, again in the GossipSub router): about 0.28 ms each on this machine, as much
as the message's own signature, so a peer flooding the limits doubled the crypto the node does per
message. The record changes only when its sender's addresses do, so the same bytes from the same
peer, already checked and stored in the host's peerstore, are accepted again without checking for
``RECHECK_S`` (then checked once more, which also renews the peerstore's 2 h expiry). Anything
else (a new record, another peer's, one that failed) is checked as py-libp2p does. At most
``MAX_RECORDS`` per host are remembered (the oldest forgotten first): a peer sending ever new
records gets each checked, as before.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict

import libp2p.pubsub.gossipsub as gossipsub_module
import libp2p.pubsub.pubsub as pubsub_module
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.utils import maybe_consume_signed_record as check_and_store

from djmesh.node.clock import monotonic

RECHECK_S = 60.0
MAX_RECORDS = 1024

# per host (a process may run several): (sender, record bytes) -> when it was last checked
_checked: weakref.WeakKeyDictionary[IHost, OrderedDict[tuple[bytes, bytes], float]] = (
    weakref.WeakKeyDictionary()
)


def consume_sender_record(msg: rpc_pb2.RPC, host: IHost, peer_id: ID) -> bool:
    """py-libp2p's ``maybe_consume_signed_record``, skipping the check for a record this host just stored."""
    if not msg.HasField("senderRecord"):
        return True
    known = _checked.setdefault(host, OrderedDict())
    key = (peer_id.to_bytes(), msg.senderRecord)
    now = monotonic()
    checked_at = known.get(key)
    if checked_at is not None and now - checked_at < RECHECK_S:
        return True
    if not check_and_store(msg, host, peer_id):
        known.pop(key, None)
        return False
    known[key] = now
    known.move_to_end(key)
    while len(known) > MAX_RECORDS:
        known.popitem(last=False)
    return True


def install() -> None:
    """Make py-libp2p's pubsub and GossipSub router use ``consume_sender_record`` (idempotent)."""
    pubsub_module.maybe_consume_signed_record = consume_sender_record  # type: ignore[attr-defined]
    gossipsub_module.maybe_consume_signed_record = consume_sender_record  # type: ignore[attr-defined]
