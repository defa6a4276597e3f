"""A fixed data source for the TUI tests: same figures every run, so snapshots stay stable."""

from __future__ import annotations

from djmesh.tui.backend import Backend, BackendError
from djmesh.tui.model import BattleView, ChatLine, CrewRow, DjLive, FeedRow, NodeStatus, PeerRow, ProfileView

ME = "12D3KooWFakeNodeForTheTuiTestsAAAAAAAAAAAAAAAAAAAAAA"
ADA = "12D3KooWAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAdaAda"
BOB = "12D3KooWBobBobBobBobBobBobBobBobBobBobBobBobBobBobBob"
T0 = 1_763_780_400_000  # 2025-11-22 03:00 UTC
SCORES_A = {"beatmatch": 8.4, "tempo": 9.1, "transitions": 7.2, "phrasing": 6.8, "gain": 7.7}
SCORES_A |= {"harmonic": 6.1, "energy": 7.9, "variety": 5.5, "rules": 10.0, "total": 7.62}
SCORES_B = {key: round(value * 0.6, 2) for key, value in SCORES_A.items()}


def battle(phase: str = "reveal", *, level_db: float = -14.0) -> BattleView:
    return BattleView(
        battle_id="7f3a" * 16,
        title="djmesh demo battle",
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
        room="battle-" + "7f3a" * 4,
        seconds_left=12,
    )


class FixedBackend(Backend):
    mode = "test data"

    def __init__(self, battles: list[BattleView] | None = None) -> None:
        super().__init__()
        self._battles = [battle()] if battles is None else battles
        self.posts: list[FeedRow] = [
            FeedRow("01" * 32, "DJ Ada", "live at 9, bring your ears", T0),
            FeedRow("02" * 32, "DJ Bob", "new set tonight: all vinyl", T0 - 3_600_000),
        ]
        self.lines = [ChatLine("DJ Ada", "that transition!", T0), ChatLine("viewer-1", "🔥", T0 + 60_000)]
        self.reactions: list[tuple[str, str]] = []
        self.crew_rows = [CrewRow("ab" * 32, "Bass Collective", 3, True)]
        self.followed: list[str] = []
        self.me = ProfileView(ME, "DJ Test", "plays test tones", following=2)
        self.stopped = False

    def status(self) -> NodeStatus:
        return NodeStatus(
            ME,
            self.mode,
            2,
            42,
            ("/ip4/127.0.0.1/tcp/4001",),
            ("/ip4/127.0.0.1/tcp/4000",),
            home="/tmp/djmesh-test",
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
            PeerRow(ADA, ("/ip4/127.0.0.1/tcp/4002",), 1.5, 10.0),
            PeerRow(BOB, ("/ip4/127.0.0.1/tcp/4003",), None, None),
        ]

    async def profile(self, peer_id: str | None = None) -> ProfileView | None:
        if peer_id is None:
            return self.me
        if peer_id == ADA:
            return ProfileView(ADA, "DJ Ada", "house all night")
        raise BackendError(f"{peer_id!r} is not a djmesh peer ID")

    async def set_profile(self, name: str, bio: str) -> None:
        self.me = ProfileView(ME, name, bio, following=2)

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

    async def react(self, battle_id: str, emoji: str) -> None:
        self.reactions.append((battle_id, emoji))
