"""A fixed data source for the TUI tests: same figures every run, so snapshots stay stable."""

from __future__ import annotations

from typing import Any

from djmesh.tui.backend import Backend, BackendError
from djmesh.tui.model import (
    BattleView,
    ChatLine,
    CrewRow,
    DjLive,
    FeedRow,
    GenreRecord,
    LeaderRow,
    NodeStatus,
    NoticeRow,
    PeerRow,
    ProfileView,
    RecordView,
    VoteOutcome,
    WalletChannel,
    WalletView,
)
from djmesh.tui.playback import Output

SPEAKERS = Output("Test Speakers")

ME = "12D3KooWFakeNodeForTheTuiTestsAAAAAAAAAAAAAAAAAAAAAA"
ADA = "12D3KooWAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAda"
BOB = "12D3KooWBobBobBobBobBobBobBobBobBobBobBobBobBobBobBob"
T0 = 1_763_780_400_000  # 2025-11-22 03:00 UTC
SCORES_A = {"beatmatch": 8.4, "tempo": 9.1, "transitions": 7.2, "phrasing": 6.8, "gain": 7.7}
SCORES_A |= {"harmonic": 6.1, "energy": 7.9, "variety": 5.5, "rules": 10.0, "total": 7.62}
SCORES_B = {key: round(value * 0.6, 2) for key, value in SCORES_A.items()}


def battle(
    phase: str = "reveal",
    *,
    level_db: float = -14.0,
    battle_id: str = "7f3a" * 16,
    title: str = "djmesh demo battle",
    start_at: int = T0,
    can_accept: bool = False,
    role: str = "viewer",
) -> BattleView:
    return BattleView(
        battle_id=battle_id,
        title=title,
        genre="house",
        bpm_range=(115, 135),
        phase=phase,
        committee_size=4,
        quorum=3,
        joined=4,
        commits=4,
        reveals=2,
        winner="a" if phase == "done" else None,
        sides={
            "a": DjLive(
                "DJ Ada",
                ADA,
                level_db,
                -6.0,
                125.0,
                "A minor",
                "8A",
                True,
                3,
                6,
                "Loop 3 @ 125.0",
                True,
                SCORES_A,
            ),
            "b": DjLive(
                "DJ Bob",
                BOB,
                -20.0,
                -9.0,
                138.2,
                "F major",
                "7B",
                False,
                4,
                6,
                "Loop 4 @ 131.0",
                True,
                SCORES_B,
            ),
        },
        room="battle-" + battle_id[:16],
        seconds_left=12,
        start_at=start_at,
        role=role,
        can_accept=can_accept,
        streams={"a": "aa" * 32, "b": "bb" * 32},
    )


def challenge() -> BattleView:
    """An open challenge to this node, an hour from T0."""
    return battle(
        "announced",
        battle_id="c0de" * 16,
        title="Friday night challenge",
        start_at=T0 + 3_600_000,
        can_accept=True,
        role="none",
    )


LEADERBOARD = [
    LeaderRow("house", 1, ADA, "DJ Ada", 1563.9, "Silver", 3, 0, 0, 7.62),
    LeaderRow("house", 2, ME, "DJ Test", 1500.0, "Bronze", 1, 1, 0, 6.05),
    LeaderRow("house", 3, BOB, "DJ Bob", 1436.1, "Bronze", 0, 3, 0, 4.57),
    LeaderRow("techno", 1, BOB, "DJ Bob", 1516.0, "Bronze", 1, 0, 0, None),
    LeaderRow("techno", 2, ADA, "[b]DJ Ada[/b]", 1484.0, "Bronze", 0, 1, 0, None),  # names are not markup
]
ADA_RECORD = RecordView(
    1563.9,
    "Silver",
    3,
    1,
    0,
    7.62,
    (
        GenreRecord("house", 1, 1563.9, "Silver", 3, 0, 0, 7.62),
        GenreRecord("techno", 2, 1484.0, "Bronze", 0, 1, 0, None),
    ),
)


def notice(n: int, reason: str, text: str, battle_id: str | None = None, author: str = ADA) -> NoticeRow:
    return NoticeRow(f"{n:064x}", reason, author, "DJ Ada", text, T0 - n * 60_000, battle_id)


NOTICES = [
    notice(1, "challenge", "DJ Ada challenges you to a house battle: Friday night", "c0de" * 16),
    notice(2, "mention", "DJ Ada mentioned you: see you at 9 [red]@test[/red]"),
    notice(3, "result", "Warm-up: you won against DJ Bob (7.62 to 4.57)", "7f3a" * 16, author=BOB),
    notice(4, "follow", "DJ Bob follows you", author=BOB),
    notice(5, "reaction", "DJ Bob reacted 🔥", author=BOB),
]

LISTENER = "0x" + "a11ce" * 8
PAYEE = "0x" + "0b0b" * 10
WALLET = WalletView(
    address="0x" + "d1" * 20,
    chain_id=31337,
    balance_wei=98_499_000_000_000_000_000,
    in_channels_wei=1_200_000_000_000_000_000,
    withdrawable_wei=300_000_000_000_000_000,
    channels=(
        WalletChannel(
            1, "listener", PAYEE, 1_500_000_000_000_000_000, 300_000_000_000_000_000, 1_763_784_000, "open"
        ),
        WalletChannel(
            2, "payee", LISTENER, 500_000_000_000_000_000, 500_000_000_000_000_000, 1_763_780_400, "closed"
        ),
    ),
    solana_address="4Nd1mYQzvjGvQ8mR7Ppm2gcxWTtYBRsdDjmeshTest1",
)


class FixedBackend(Backend):
    mode = "test data"

    def __init__(
        self,
        battles: list[BattleView] | None = None,
        *,
        home: str = "/tmp/djmesh-test",
        wallet: WalletView | str = WALLET,
        anonymous_votes: bool = False,
        output: Output = SPEAKERS,
    ) -> None:
        super().__init__()
        self.output = output  # fixed: the app does not ask PortAudio, so every machine draws the same
        self.wallet_view = wallet  # a string: why the wallet cannot be read
        self.anonymous_votes = anonymous_votes
        self.ballots: list[tuple[str, str]] = []  # anonymous votes cast (battle, side)
        self.home = home
        self._battles = [battle()] if battles is None else battles
        self.posts: list[FeedRow] = [
            FeedRow("01" * 32, "DJ Ada", "live at 9, bring your ears", T0),
            FeedRow("02" * 32, "DJ Bob", "new set tonight: all vinyl", T0 - 3_600_000),
        ]
        self.lines = [ChatLine("DJ Ada", "that transition!", T0), ChatLine("viewer-1", "🔥", T0 + 60_000)]
        self.reactions: list[tuple[str, str]] = []
        self.crew_rows = [CrewRow("ab" * 32, "Bass Collective", 3, True)]
        self.followed: list[str] = []
        self.me = ProfileView(ME, "DJ Test", "plays test tones", following=2, record=RecordView())
        self.stopped = False
        self.commands: list[tuple[str, dict[str, Any]]] = []  # (control method, params) the app ran
        self.heard: list[str | None] = []
        self.board = list(LEADERBOARD)
        self.notices = list(NOTICES)

    def status(self) -> NodeStatus:
        return NodeStatus(
            ME,
            self.mode,
            2,
            42,
            ("/ip4/127.0.0.1/tcp/4001",),
            ("/ip4/127.0.0.1/tcp/4000",),
            home=self.home,
            bytes_out_per_s=2_048.0,
            bytes_in_per_s=13_500.0,
            bytes_sent=1_250_000,
            bytes_received=8_400_000,
            discovery={
                "bootstrap_configured": 1,
                "bootstrap_connected": 1,
                "dht_routing_table": 5,
                "relay_reservations": 1,
                "serving": False,
            },
        )

    def battles(self) -> list[BattleView]:
        return list(self._battles)

    async def stop(self) -> None:
        self.stopped = True

    async def feed(self, limit: int = 50) -> list[FeedRow]:
        return self.posts[:limit]

    async def post(self, text: str) -> None:
        self.posts.insert(0, FeedRow(f"{len(self.posts):064x}", "DJ Test", text, T0 + 120_000))

    async def peers(self) -> list[PeerRow]:
        return [
            PeerRow(ADA, ("/ip4/127.0.0.1/tcp/4002",), 1.5, 10.0, "DJ Ada"),
            PeerRow(BOB, ("/ip4/127.0.0.1/tcp/4003",), None, None, "DJ Bob"),
        ]

    async def profile(self, peer_id: str | None = None) -> ProfileView | None:
        if peer_id is None:
            return self.me
        if peer_id == ADA:
            return ProfileView(ADA, "DJ Ada", "house all night", record=ADA_RECORD)
        raise BackendError(f"{peer_id!r} is not a djmesh peer ID")

    async def set_profile(self, name: str, bio: str) -> None:
        self.me = ProfileView(ME, name, bio, following=2, record=self.me.record)

    async def follow(self, peer_id: str) -> None:
        self.followed.append(peer_id)

    async def crews(self) -> list[CrewRow]:
        return list(self.crew_rows)

    async def create_crew(self, name: str) -> str:
        self.crew_rows.append(CrewRow("cd" * 32, name, 1, True))
        return "cd" * 32

    async def chat_history(self, room: str, limit: int = 100) -> list[ChatLine]:
        return self.lines[-limit:]

    async def chat(self, room: str, text: str) -> None:
        self.lines.append(ChatLine("DJ Test", text, T0 + 120_000))

    async def reaction(self, target_id: str, emoji: str) -> None:
        self.reactions.append((target_id, emoji))

    async def command(self, method: str, **params: Any) -> Any:
        """Records the command; answers as the node's control method would (a fixed ID, no chain)."""
        if method == "battle_challenge" and not str(params.get("peer", "")).startswith("12D3KooW"):
            raise BackendError(f"no known peer is called {params.get('peer')!r}: give its peer ID")
        self.commands.append((method, params))
        if method == "battle_challenge":
            return {"battle_id": "ee" * 32}
        return {"battle_id": params.get("battle_id"), "accepted": True, "joined": True}

    async def hear(self, stream_id: str | None, label: str = "") -> None:
        self.heard.append(stream_id)
        self.hearing = label if stream_id else None

    async def leaderboard(self) -> list[LeaderRow]:
        return list(self.board)

    async def notifications(self, limit: int = 50) -> list[NoticeRow]:
        return self.notices[:limit]

    async def wallet(self) -> WalletView:
        if isinstance(self.wallet_view, str):
            raise BackendError(self.wallet_view)
        return self.wallet_view

    async def anonymous_vote(self, battle_id: str, side: str) -> VoteOutcome | str:
        if not self.anonymous_votes:
            return "this test node has no ledger"
        if any(cast == battle_id for cast, _ in self.ballots):
            raise BackendError("this listener already voted in this battle")
        self.ballots.append((battle_id, side))
        return VoteOutcome(side, binding=True, tx="0x" + "7a" * 32, nullifier="0x" + "5e" * 32)
