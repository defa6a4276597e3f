"""Plain snapshots the screens render, so widgets never touch a node (and tests can fake one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SIDES = ("a", "b")


@dataclass(frozen=True)
class DjLive:
    """One DJ as the battle screen shows them; live figures are ``None`` until analysis has them."""

    name: str
    peer_id: str
    level_db: float = -90.0
    peak_db: float = -90.0
    bpm: float | None = None
    key: str | None = None
    camelot: str | None = None
    beat: bool = False
    track: int = 0
    tracks: int = 6
    track_title: str = ""
    streaming: bool = False
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class BattleView:
    """The battle and its committee's consensus status, as this node sees it."""

    battle_id: str
    title: str
    genre: str
    bpm_range: tuple[int, int]
    phase: str
    committee_size: int
    quorum: int
    joined: int
    commits: int
    reveals: int
    winner: str | None
    sides: dict[str, DjLive]
    room: str
    offences: tuple[str, ...] = ()
    seconds_left: int | None = None
    start_at: int = 0  # ms: when the sets start (live vs upcoming on the Battles screen)
    role: str = "none"  # this node's part: dj-a, dj-b, judge, viewer or none
    can_accept: bool = False  # a challenge to this node, still open
    streams: dict[str, str] = field(default_factory=dict)  # side -> the stream ID its DJ declared
    #: side -> the judge's timestamped findings on that set ("2:31-2:47: the beats are 90 ms apart ...")
    findings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: the battle names another release's judge: this node neither joins nor judges it
    other_judge: bool = False


@dataclass(frozen=True)
class FeedRow:
    id: str
    author: str
    text: str
    created_at: int


@dataclass(frozen=True)
class ChatLine:
    author: str
    text: str
    created_at: int


@dataclass(frozen=True)
class PeerRow:
    peer_id: str
    addrs: tuple[str, ...]
    latency_ms: float | None
    score: float | None
    name: str = ""  # display name ("" from an older node)


@dataclass(frozen=True)
class GenreRecord:
    """A DJ's row in one genre's leaderboard."""

    genre: str
    rank: int
    rating: float
    tier: str
    wins: int
    losses: int
    draws: int
    average_score: float | None = None


@dataclass(frozen=True)
class RecordView:
    """A DJ's record (``djmesh.protocol.ratings.Record``): ``rating`` and ``tier`` of the best genre."""

    rating: float | None = None
    tier: str | None = None
    wins: int = 0
    losses: int = 0
    draws: int = 0
    average_score: float | None = None
    genres: tuple[GenreRecord, ...] = ()

    @property
    def battles(self) -> int:
        return self.wins + self.losses + self.draws

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordView:
        """From the node's record JSON (``profile_show``'s ``record``)."""
        return cls(
            rating=data.get("rating"),
            tier=data.get("tier"),
            wins=int(data.get("wins", 0)),
            losses=int(data.get("losses", 0)),
            draws=int(data.get("draws", 0)),
            average_score=data.get("average_score"),
            genres=tuple(
                GenreRecord(
                    genre,
                    int(row["rank"]),
                    float(row["rating"]),
                    str(row["tier"]),
                    int(row["wins"]),
                    int(row["losses"]),
                    int(row["draws"]),
                    row.get("average_score"),
                )
                for genre, row in sorted((data.get("genres") or {}).items())
            ),
        )


@dataclass(frozen=True)
class ProfileView:
    peer_id: str
    name: str
    bio: str
    links: tuple[str, ...] = ()
    following: int = 0
    record: RecordView | None = None


@dataclass(frozen=True)
class LeaderRow:
    """One row of a genre's leaderboard (the node's ``leaderboard`` JSON)."""

    genre: str
    rank: int
    peer_id: str
    name: str
    rating: float
    tier: str
    wins: int
    losses: int
    draws: int
    average_score: float | None = None

    @classmethod
    def from_json(cls, genre: str, row: dict[str, Any]) -> LeaderRow:
        return cls(
            genre=genre,
            rank=int(row["rank"]),
            peer_id=str(row["peer"]),
            name=str(row.get("name") or row["peer"]),
            rating=float(row["rating"]),
            tier=str(row["tier"]),
            wins=int(row["wins"]),
            losses=int(row["losses"]),
            draws=int(row["draws"]),
            average_score=row.get("average_score"),
        )


def leader_rows(board: dict[str, list[dict[str, Any]]]) -> list[LeaderRow]:
    """The node's leaderboard JSON (genre -> rows) as rows, by genre then rank."""
    return [LeaderRow.from_json(genre, row) for genre, rows in sorted(board.items()) for row in rows]


@dataclass(frozen=True)
class NoticeRow:
    """A notification (the node's ``notifications`` JSON): ``reason`` mention, follow, reaction,
    challenge or result; ``text`` is the line to show."""

    id: str
    reason: str
    author: str
    author_name: str
    text: str
    created_at: int
    battle_id: str | None = None

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> NoticeRow:
        author = str(row["author"])
        return cls(
            id=str(row["id"]),
            reason=str(row.get("reason") or row.get("kind") or ""),
            author=author,
            author_name=str(row.get("author_name") or author[-8:]),
            text=str(row.get("text") or f"{row.get('kind')} from {author[-8:]}"),
            created_at=int(row["created_at"]),
            battle_id=row.get("battle_id"),
        )


@dataclass(frozen=True)
class CrewRow:
    crew_id: str
    name: str
    members: int
    admin: bool


@dataclass(frozen=True)
class NodeStatus:
    """What the header and the Peers screen say about the node itself."""

    peer_id: str
    mode: str
    peers: int
    messages: int
    listen_addrs: tuple[str, ...] = ()
    bootstrap: tuple[str, ...] = ()
    dropped: dict[str, int] = field(default_factory=dict)
    home: str = ""
    bytes_out_per_s: float | None = None  # libp2p TCP traffic (kernel counters); None: not measured yet
    bytes_in_per_s: float | None = None
    bytes_sent: int = 0  # over the connections open now
    bytes_received: int = 0
    discovery: dict[str, int | bool] = field(default_factory=dict)  # bootstrap, DHT, relay (netstats)


@dataclass(frozen=True)
class WalletChannel:
    """A listen channel the node pays into (role listener) or is paid from (role payee)."""

    channel: int
    role: str
    counterparty: str
    deposit_wei: int
    paid_wei: int
    expires_at: int
    state: str  # open | expired | closed


@dataclass(frozen=True)
class WalletView:
    """The node's wallet as read from the chain, without its passphrase."""

    address: str
    chain_id: int
    balance_wei: int
    in_channels_wei: int
    withdrawable_wei: int
    channels: tuple[WalletChannel, ...] = ()
    solana_address: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WalletView:
        """From the ``wallet`` control method's answer (amounts are decimal strings of wei)."""
        return cls(
            address=str(data["address"]),
            chain_id=int(data["chain_id"]),
            balance_wei=int(data["balance_wei"]),
            in_channels_wei=int(data["in_channels_wei"]),
            withdrawable_wei=int(data["withdrawable_wei"]),
            channels=tuple(
                WalletChannel(
                    channel=int(row["channel"]),
                    role=str(row["role"]),
                    counterparty=str(row["counterparty"]),
                    deposit_wei=int(row["deposit_wei"]),
                    paid_wei=int(row["paid_wei"]),
                    expires_at=int(row["expires_at"]),
                    state=str(row["state"]),
                )
                for row in data.get("channels") or ()
            ),
            solana_address=data.get("solana_address"),
        )


@dataclass(frozen=True)
class VoteOutcome:
    """How a vote went: on the ledger with its proof (``binding``), or as a gossip reaction only."""

    side: str
    binding: bool
    tx: str = ""
    nullifier: str = ""
    why_not_binding: str = ""
