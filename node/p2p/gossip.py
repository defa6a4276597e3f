"""GossipSub parameters for djmesh, and the router/pubsub built from them.

py-libp2p's defaults do not suit a live network (see shared/FIELD-NOTES.md): a 120 s heartbeat,
spam protection at 10 msg/s per topic per forwarder (own publishes included), scoring with all
weights at 0 and thresholds at -inf, and an "adaptive" mode that stretches the heartbeat to 30-60 s
when it thinks the network is unhealthy. Everything here is set explicitly instead.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import libp2p.pubsub.pubsub as pubsub_module
from libp2p.abc import IHost, INetStream
from libp2p.exceptions import ValidationError
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.rpc_queue import DefaultMaxMessageSize, RpcQueue
from libp2p.pubsub.score import PeerScorer, ScoreParams, TopicScoreParams

from djmesh.node.p2p import sender_records
from djmesh.node.p2p.trio_bridge import yield_if_over_budget

# py-libp2p's per-peer outbound queue holds 32 RPCs and drops the rest. With 30 nodes in separate processes on
# two cores, a burst of 30 battle joins overflowed it at every node (up to 46 messages dropped by one node,
# fullest queue 31), and the dropped copies came back only by reconciliation, 15-60 s later: three viewers
# cancelled the battle. 128 RPCs ride out such a burst; a queue holds only what this node sends to that peer
# (at most its mesh and gossip traffic), each RPC at most 1 MiB (py-libp2p's limit; our messages are <= 64 KiB).
OUTBOUND_QUEUE_RPCS = 128
MAX_KEPT_SUBSCRIPTIONS = 256  # peers whose broken pubsub stream is being replaced (connected peers only)


@dataclass(frozen=True)
class GossipConfig:
    """GossipSub tuning for djmesh. All times in seconds; the scorer ticks once per heartbeat.

    Mesh:
      heartbeat_s=1.0: mesh repair and IHAVE gossip every second (go/js default; the library's 120 s
        leaves a new peer out of the mesh for two minutes).
      degree=6, degree_low=4, degree_high=12: the GossipSub spec values (D, D_lo, D_hi); with 20-200
        peers per room this keeps paths at 2-3 hops.
      gossip_window=3, gossip_history=5: IHAVE covers the last 3 heartbeats, the cache 5 (spec values).
      Protocol GossipSub v1.1 (see ``build_router`` for why not v1.2).

    Rates (sized to real traffic):
      max_messages_per_topic_per_second=100: the library counts every message a *forwarder* relays on a
        topic, whoever wrote it, so this caps the aggregate of a topic, not one sender. A busy battle
        room carries ~20-30 chat lines/s plus reaction bursts (a drop: 100+ people reacting within a
        few seconds); 100/s is 3-5x that peak. Per-author limits (chat spam) are the validator's job.
      publish_rate_per_s=40, publish_burst=20: our own pacing. The library's per-peer outbound queue
        holds 32 RPCs and drops the rest with a log line; pacing below the forwarders' limit keeps
        our own messages from being counted as spam by our neighbours (own publishes count too).

    Peer score (py-libp2p's scorer: score = sum over topics of P1 + P2 - P4, minus P5, minus P7):
      P1 time in mesh: weight 0.1, cap 10, decay 0.99 -- a small bonus for stable mesh neighbours.
      P2 first deliveries: weight 1.0, cap 20, decay 0.9 (~10 s memory) -- useful forwarders earn up
        to +20, which absorbs an occasional invalid message from an honest peer (clock skew).
      P3 mesh delivery deficit: weight 0 -- off until rates per room are measured (field notes:
        a quiet room would otherwise penalise every honest neighbour).
      P4 invalid messages: weight 5.0 per message, cap 100, decay 0.99 (~70 s half-life). A message our
        validator rejects costs its forwarder 5 points: 10 of them cross the publish threshold.
      P5 behaviour (rate-limit hits, IWANT/IHAVE/GRAFT floods): weight 1.0 above 5 points, decay 0.9.
      P7 IP colocation: weight 0 -- LAN parties, NAT and loopback tests put many honest peers on
        one address.
    Thresholds (go-libp2p order gossip > publish > graylist):
      gossip_threshold=-10 (no IHAVE to/from below), publish_threshold=-50 (their messages are
      dropped unvalidated), graylist_threshold=-80 (their RPCs ignored), accept_px_threshold=10.
    """

    heartbeat_s: float = 1.0
    degree: int = 6
    degree_low: int = 4
    degree_high: int = 12
    gossip_window: int = 3
    gossip_history: int = 5
    max_messages_per_topic_per_second: float = 100.0
    publish_rate_per_s: float = 40.0
    publish_burst: int = 20
    seen_ttl_s: int = 120
    scoring: bool = True
    # Score weights (see docstring).
    time_in_mesh_weight: float = 0.1
    time_in_mesh_cap: float = 10.0
    time_in_mesh_decay: float = 0.99
    first_delivery_weight: float = 1.0
    first_delivery_cap: float = 20.0
    first_delivery_decay: float = 0.9
    mesh_delivery_weight: float = 0.0
    invalid_message_weight: float = 5.0
    invalid_message_cap: float = 100.0
    invalid_message_decay: float = 0.99
    behaviour_penalty_weight: float = 1.0
    behaviour_penalty_threshold: float = 5.0
    behaviour_penalty_decay: float = 0.9
    ip_colocation_weight: float = 0.0
    gossip_threshold: float = -10.0
    publish_threshold: float = -50.0
    graylist_threshold: float = -80.0
    accept_px_threshold: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.degree_low <= self.degree <= self.degree_high:
            raise ValueError("need 0 < degree_low <= degree <= degree_high")
        if self.heartbeat_s <= 0 or self.publish_rate_per_s <= 0 or self.publish_burst < 1:
            raise ValueError("heartbeat, publish rate and burst must be positive")
        if self.publish_rate_per_s >= self.max_messages_per_topic_per_second:
            raise ValueError("publish_rate_per_s must stay below max_messages_per_topic_per_second")
        if not self.gossip_threshold >= self.publish_threshold >= self.graylist_threshold:
            raise ValueError("thresholds must satisfy gossip >= publish >= graylist")

    def score_params(self) -> ScoreParams:
        if not self.scoring:
            return ScoreParams()
        return ScoreParams(
            p1_time_in_mesh=TopicScoreParams(
                self.time_in_mesh_weight, self.time_in_mesh_cap, self.time_in_mesh_decay
            ),
            p2_first_message_deliveries=TopicScoreParams(
                self.first_delivery_weight, self.first_delivery_cap, self.first_delivery_decay
            ),
            p3_mesh_message_deliveries=TopicScoreParams(self.mesh_delivery_weight, 0.0, 1.0),
            p4_invalid_messages=TopicScoreParams(
                self.invalid_message_weight, self.invalid_message_cap, self.invalid_message_decay
            ),
            p5_behavior_penalty_weight=self.behaviour_penalty_weight,
            p5_behavior_penalty_decay=self.behaviour_penalty_decay,
            p5_behavior_penalty_threshold=self.behaviour_penalty_threshold,
            p7_ip_colocation_weight=self.ip_colocation_weight,
            publish_threshold=self.publish_threshold,
            gossip_threshold=self.gossip_threshold,
            graylist_threshold=self.graylist_threshold,
            accept_px_threshold=self.accept_px_threshold,
        )


class PolicyScorer(PeerScorer):
    """py-libp2p's scorer, plus the IGNORE verdict py-libp2p lacks (its validators say yes or no,
    and every no costs the forwarder P4). A validator that ignores a message calls ``ignore`` with
    the forwarder just before answering no; the penalty py-libp2p then books for it is skipped.

    Race-free because py-libp2p runs synchronous validators and books the penalty in one stretch
    of ``push_msg`` with no checkpoint between them (no other message is validated in between);
    ``PolicyPubsub`` clears the mark when that ``push_msg`` ends.
    """

    def __init__(self, params: ScoreParams) -> None:
        super().__init__(params)
        self.ignoring: ID | None = None
        self.ignored = 0

    def ignore(self, forwarder: ID) -> None:
        self.ignoring = forwarder
        self.ignored += 1

    def on_invalid_message(self, peer: ID, topic: str) -> None:
        if peer == self.ignoring:
            return
        super().on_invalid_message(peer, topic)


@dataclass
class GossipCounters:
    """Messages through pubsub since start; ``received`` counts every copy from every forwarder."""

    received: int = 0
    dropped_early: int = 0
    refused: int = 0
    unsent: int = 0  # messages the router dropped on their way out: the peer's queue (32 RPCs) was full
    malformed_streams: int = 0  # pubsub streams reset because what a peer sent could not be read

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class DeeperRpcQueue(RpcQueue):
    def __init__(
        self, max_size: int = OUTBOUND_QUEUE_RPCS, max_message_size: int = DefaultMaxMessageSize
    ) -> None:
        super().__init__(max_size, max_message_size)


class CountingGossipSub(GossipSub):
    """GossipSub that counts the messages it drops because a peer's outbound queue is full (py-libp2p only
    logs them at DEBUG; on a loaded machine they are why a message reaches some nodes minutes late)."""

    counters: GossipCounters | None = None

    def _handle_dropped_rpc(self, peer_id: ID, rpc: rpc_pb2.RPC, reason: str) -> None:
        if self.counters is not None:
            self.counters.unsent += len(rpc.publish)
        super()._handle_dropped_rpc(peer_id, rpc, reason)


class PolicyPubsub(Pubsub):
    """Pubsub whose ignored messages cost nobody a penalty and are not remembered as invalid (the
    next forwarder of the same message is judged afresh, not penalised from the cache).

    ``early_drop``: given a received message's claimed origin (``from_id``), True to drop it before
    anything is checked (no signature verified, no penalty, not remembered). The node drops an author
    over its rate so (a flood costs it no Ed25519 per message: py-libp2p's check and its own, 0.3 ms each).
    """

    early_drop: Callable[[bytes], bool] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # subscriptions of peers whose stream broke while they stayed connected, until a new stream is open
        self._kept_subscriptions: OrderedDict[ID, list[str]] = OrderedDict()
        self.counters = GossipCounters()
        self._reading_from: dict[ID, int] = {}  # peers with a stream to us being read, and how many

    async def stream_handler(self, stream: INetStream) -> None:
        peer_id = stream.muxed_conn.peer_id
        self._reading_from[peer_id] = self._reading_from.get(peer_id, 0) + 1
        try:
            await super().stream_handler(stream)
        except Exception:
            # py-libp2p catches only its own read errors (protobuf's DecodeError for one malformed RPC got
            # through): the peer's stream is dead as after those; the host's guard resets and logs it
            # (libp2p_host._guard_stream_handlers)
            self.counters.malformed_streams += 1
            self._handle_dead_peer(peer_id)
            raise
        finally:
            left = self._reading_from.pop(peer_id, 1) - 1
            if left:
                self._reading_from[peer_id] = left

    def state(self, *, peers: bool = False) -> dict[str, Any]:
        """What this node's pubsub knows, for `status`: when a node receives nothing, which link is missing
        (no stream from peers, none to them, peers unaware of our topics, empty meshes)."""
        mesh = getattr(self.router, "mesh", {})
        fanout = getattr(self.router, "fanout", {})
        queued = [len(q) for q in self.peer_queues.values()]

        def which(ids: Any) -> int | list[str]:
            """How many, or with ``peers`` which (a large answer: for diagnosis)."""
            return sorted(str(p) for p in ids) if peers else len(ids)

        return {
            "streams_to_peers": which(self.peers),
            "streams_from_peers": which(self._reading_from),
            "queued_rpcs": sum(queued),
            "fullest_queue": max(queued, default=0),
            "topics": {
                topic: {
                    "subscribers": which(self.peer_topics.get(topic, ())),
                    "mesh": which(mesh.get(topic, ())),
                    "fanout": which(fanout.get(topic, ())),
                }
                for topic in sorted(self.topic_ids)
            },
            **self.counters.as_dict(),
        }

    def _handle_dead_peer(self, peer_id: ID) -> None:
        """py-libp2p forgets a peer's subscriptions when our stream to it breaks, then opens a new one if the
        peer is still connected; but the peer sends its subscriptions on its own stream to us, which is fine,
        so it never sends them again, and nothing more reached it (its topics' meshes had lost it). They are
        kept here and given back when the new stream is open."""
        topics = [topic for topic, peers in self.peer_topics.items() if peer_id in peers]
        super()._handle_dead_peer(peer_id)
        if topics and self._peer_is_connected(peer_id):
            kept = self._kept_subscriptions
            kept[peer_id] = topics
            while len(kept) > MAX_KEPT_SUBSCRIPTIONS:
                kept.popitem(last=False)
        else:
            self._kept_subscriptions.pop(peer_id, None)  # gone: it says what it wants when it comes back

    async def _handle_new_peer(self, peer_id: ID) -> None:
        await super()._handle_new_peer(peer_id)
        topics = self._kept_subscriptions.pop(peer_id, None)
        if topics and peer_id in self.peers:
            for topic in topics:
                self.handle_subscription(peer_id, rpc_pb2.RPC.SubOpts(subscribe=True, topicid=topic))

    def _policy_scorer(self) -> PolicyScorer | None:
        scorer = getattr(self.router, "scorer", None)
        return scorer if isinstance(scorer, PolicyScorer) else None

    async def validate_msg(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        try:
            await super().validate_msg(msg_forwarder, msg)
        except ValidationError:
            self.counters.refused += 1
            scorer = self._policy_scorer()
            if scorer is not None and scorer.ignoring == msg_forwarder:
                self.validation_cache.cache.pop(self._msg_id_constructor(msg), None)
            raise

    async def push_msg(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        # one task per message received: a burst would run in one guest tick, holding the node's event loop
        self.counters.received += 1
        await yield_if_over_budget()
        early_drop = self.early_drop
        if early_drop is not None and msg_forwarder != self.my_id and early_drop(msg.from_id):
            self.counters.dropped_early += 1
            return
        try:
            await super().push_msg(msg_forwarder, msg)
        finally:
            scorer = self._policy_scorer()
            if scorer is not None and scorer.ignoring == msg_forwarder:
                scorer.ignoring = None


def build_router(config: GossipConfig) -> GossipSub:
    """A GossipSub router with djmesh's parameters (adaptive heartbeat and IP-diversity grafting off).

    Speaks GossipSub v1.1 only: py-libp2p's v1.2 sends an IDONTWANT to every mesh peer for every
    message whatever its size (go-libp2p: only above 1 KiB), which doubled the frames -- and the CPU
    -- per delivery of our ~300-byte messages (measured in bench/gossip.py).
    """
    router = CountingGossipSub(
        protocols=[PROTOCOL_ID_V11, PROTOCOL_ID],
        degree=config.degree,
        degree_low=config.degree_low,
        degree_high=config.degree_high,
        gossip_window=config.gossip_window,
        gossip_history=config.gossip_history,
        heartbeat_initial_delay=0.1,
        # The library annotates int but only ever sleeps on it.
        heartbeat_interval=config.heartbeat_s,  # type: ignore[arg-type]
        score_params=config.score_params(),
        # Adaptive mode raises a 1 s heartbeat to 30-60 s when it judges health "poor".
        adaptive_gossip_enabled=False,
        spam_protection_enabled=True,
        max_messages_per_topic_per_second=config.max_messages_per_topic_per_second,
        # IP-diversity grafting assumes one peer per address; see P7 above.
        eclipse_protection_enabled=False,
    )
    router.scorer = PolicyScorer(config.score_params())
    return router


def build_default_router() -> GossipSub:
    """Bare py-libp2p GossipSub as its examples build it (defaults), for the side-by-side benchmark."""
    return GossipSub(protocols=[PROTOCOL_ID_V11, PROTOCOL_ID], degree=6, degree_low=4, degree_high=12)


def build_pubsub(
    host: IHost, router: GossipSub, config: GossipConfig, early_drop: Callable[[bytes], bool] | None = None
) -> Pubsub:
    """Pubsub with strict signing (every message carries its origin's libp2p signature).

    Each RPC's sender record is checked once per sender and record (``sender_records``), not every time.
    """
    sender_records.install()
    pubsub_module.RpcQueue = DeeperRpcQueue  # type: ignore[attr-defined]  # the queue each new peer gets
    pubsub = PolicyPubsub(host, router, strict_signing=True, seen_ttl=config.seen_ttl_s)
    pubsub.early_drop = early_drop
    if isinstance(router, CountingGossipSub):
        router.counters = pubsub.counters
    return pubsub


def score_of(router: GossipSub, peer: object, topics: list[str]) -> float | None:
    """The router's current score for ``peer`` (None when scoring is unavailable)."""
    scorer = router.scorer
    if scorer is None:
        return None
    value = scorer.score(peer, topics)  # type: ignore[arg-type]
    return value if math.isfinite(value) else None
