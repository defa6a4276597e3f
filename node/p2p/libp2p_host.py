"""Construction of the py-libp2p host: the node's Ed25519 key, Noise only, Yamux only.

``new_host()`` left to its defaults also offers TLS, SECIO and ``/plaintext/2.0.0``, and a
plaintext-only peer got in (shared/FIELD-NOTES.md). Passing ``sec_opt`` and ``muxer_opt``
replaces those tables, so nothing but Noise is offered or accepted.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence

import multiaddr  # type: ignore[import-untyped]
from libp2p import new_host
from libp2p.abc import IHost, INetStream
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.network.swarm import Swarm
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux

from djmesh.node.p2p.addresses import expand_wildcards

log = logging.getLogger(__name__)

SECURITY_PROTOCOLS = (str(NOISE_PROTOCOL_ID),)

# py-libp2p's yamux sends a WINDOW_UPDATE after nearly every read ("release on read"): ~3 extra frames
# per gossiped message. Off, credit is returned in go-yamux-sized batches; 10-15% less CPU per
# delivery in bench/gossip.py. Read at call time; an explicit setting in the environment wins.
os.environ.setdefault("PY_YAMUX_RELEASE_ON_READ", "0")
MUXER_PROTOCOLS = (str(YAMUX_PROTOCOL_ID),)


def key_pair_from_seed(seed: bytes) -> KeyPair:
    """The libp2p key pair of the node's 32-byte Ed25519 seed (same key as ``djmesh.node.identity``)."""
    if len(seed) != 32:
        raise ValueError("an Ed25519 seed is 32 bytes")
    return create_new_key_pair(seed)


def build_host(
    key_pair: KeyPair, listen: Sequence[multiaddr.Multiaddr], *, enable_mdns: bool = False
) -> IHost:
    """A TCP host that speaks Noise + Yamux and nothing else."""
    noise = NoiseTransport(key_pair, noise_privkey=create_new_x25519_key_pair().private_key)
    host = new_host(
        key_pair=key_pair,
        sec_opt={TProtocol(NOISE_PROTOCOL_ID): noise},
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
        listen_addrs=list(listen),
        enable_mDNS=enable_mdns,
        # Advertised (identify, rendezvous, DHT) addresses: wildcards replaced by interface addresses.
        addrs_factory=_dialable,
    )
    _guard_stream_handlers(host)
    return host


def _guard_stream_handlers(host: IHost) -> None:
    """An error in any protocol's handler resets that stream and is logged; it never reaches the connection.

    py-libp2p runs every inbound stream's handler in the connection's nursery, so an exception a handler
    does not catch (protobuf's DecodeError for one malformed pubsub RPC did) stopped the whole host: any
    peer could take a node off the network with a few bytes (tests/node/test_hostile_peers.py).
    """
    network = host.get_network()
    if not isinstance(network, Swarm):
        raise TypeError(f"py-libp2p's network is a {type(network).__name__}, not the Swarm this guard wraps")
    handle = network.common_stream_handler

    async def guarded(stream: INetStream) -> None:
        try:
            await handle(stream)
        except Exception as exc:
            log.info(
                "inbound %s stream from %s reset: %s",
                stream.get_protocol(),
                stream.muxed_conn.peer_id,
                f"{type(exc).__name__}: {exc}"[:200],
            )
            with contextlib.suppress(Exception):
                await stream.reset()

    network.set_stream_handler(guarded)


def _dialable(candidates: list[multiaddr.Multiaddr]) -> list[multiaddr.Multiaddr]:
    return [multiaddr.Multiaddr(a) for a in expand_wildcards([str(c) for c in candidates])]
