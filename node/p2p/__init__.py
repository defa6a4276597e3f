"""The node's libp2p transport: one asyncio-facing host over py-libp2p running in trio guest mode."""

from djmesh.node.p2p.errors import P2PError
from djmesh.node.p2p.gossip import GossipConfig
from djmesh.node.p2p.host import P2PHost, PeerInfo
from djmesh.node.p2p.topics import Verdict

__all__ = ["GossipConfig", "P2PError", "P2PHost", "PeerInfo", "Verdict"]
