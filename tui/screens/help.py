"""The `?` help: every key, in one place."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# djmesh keys

| Key | What it does |
| --- | --- |
| `b` `a` | Battle (the one you watch), bAttles (all of them: live and upcoming) |
| `f` `p` `u` `g` `w` `s` `l` | Feed, Peers, Profile (yoU), Crews (Gang), Wallet, Settings, Log screens |
| `t` `i` | Leaderboard (Top: ratings, tiers, records), notifications (Inbox: challenges, mentions, results) |
| `ctrl+p` | Command palette: every screen and action by name |
| `?` | This help |
| `q` | Quit: the node shuts down gracefully |
| `c` | Battle: chat (Enter sends, Esc leaves the chat line); Feed: compose; Crews: new crew |
| `r` `v` `n` | Battle: react 🔥, vote (then `a` or `b`), next battle |
| `h` `m` `+` `-` | Battle: hear DJ A, DJ B or nothing; mute; volume up, down |
| `c` `y` `j` `Enter` | Battles: challenge a DJ (set file or live, prize, crowd weight), accept, join, watch |
| `$` `v` `r` | Battles: sponsor the prize, vote, claim your listen reward (need a chain in `[ledger]`) |
| `k` | Battles: cue, the next track of your live set starts now (a battle played `--live`) |
| `o` `$` | Peers: follow, tip the selected peer |
| `$` `o` | Wallet: tip a DJ (ID or name), go live with a price per second |
| `n` `Enter` | Leaderboard: next genre; Notifications: open (a challenge in Battles, a result on the Battle screen) |
| `ctrl+s` | Profile, Settings: save |

The Battle screen shows both DJs live: level meter, BPM (red outside the battle's range),
Key with its Camelot code, a beat lamp, track n of 6 and the criteria scores as the
committee reveals its verdicts. Errors show up as notifications like this one would.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [  # noqa: RUF012
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close"),
        Binding("q", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(HELP)

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
