"""The battle and money commands from the app, on real nodes: the same control methods as the CLI.

A node without a chain refuses each money command with one line that says what it needs, and sends
nothing; a challenge by profile name reaches the peer. Both ways of reaching a node are covered: the
app's own node (``NodeBackend``) and a daemon through its control API (``ControlBackend``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from djmesh.node.node import NodeOptions
from djmesh.node.services import NodeServices
from djmesh.protocol.battle import BATTLES_TOPIC
from djmesh.protocol.messages import Profile
from djmesh.tui.app import DjmeshApp
from djmesh.tui.control_backend import ControlBackend
from djmesh.tui.node_backend import NodeBackend
from djmesh.tui.screens.forms import FormDialog
from tests.helpers.network import LOOPBACK, bootstrap_server, make_home, wait_until
from tests.helpers.sets import write_set, write_wav
from tests.tui.test_app import paste, screen_text

pytestmark = pytest.mark.timeout(120)
SIZE = (160, 44)


def notes(app: DjmeshApp) -> list[str]:
    return [n.message for n in app._notifications]


def said(app: DjmeshApp, text: str) -> bool:
    return any(text in message for message in notes(app))


async def test_commands_on_the_apps_own_node_without_a_chain(tmp_path: Path) -> None:
    set_file = str(write_set(tmp_path / "sets"))
    async with bootstrap_server() as boot:
        options = NodeOptions(listen=[LOOPBACK], bootstrap=boot)
        async with NodeServices(make_home(tmp_path, "bea"), options=options, auto_join=False) as bea:
            await bea.node.set_profile(Profile(name="DJ Bea"))
            backend = NodeBackend(make_home(tmp_path, "tui"), options)
            app = DjmeshApp(backend, watch_peers=False)
            async with app.run_test(size=SIZE) as pilot:
                await wait_until(app.ready.is_set, what="the app's node to start")
                node = backend.node
                assert node is not None
                await node.follow(bea.node.peer_id)  # DJ Bea's profile: her name resolves
                await wait_until(
                    lambda: node.names.find("DJ Bea") == [bea.node.peer_id], what="DJ Bea's name"
                )
                await wait_until(
                    lambda: bea.node.peer_id in node.host.mesh_peers(BATTLES_TOPIC), what="the battles mesh"
                )
                # A prize without a chain: refused in one line, nothing sent.
                await pilot.press("a", "c", *"DJ Bea", "tab")
                await paste(pilot, set_file)
                await pilot.press(*(["tab"] * 7), *"0.5", "enter")
                await wait_until(
                    lambda: said(app, "Challenge not sent: a prize needs a chain"), what="the refusal"
                )
                assert "[ledger]" in next(m for m in notes(app) if "a prize needs a chain" in m)
                assert not bea.battles.battles
                # By profile name, without a prize: the challenge reaches DJ Bea.
                await pilot.press("c", *"DJ Bea", "tab")
                await paste(pilot, set_file)
                await pilot.press("tab", *"by name", "enter")
                await wait_until(lambda: len(bea.battles.battles) == 1, what="the challenge to reach DJ Bea")
                [state] = bea.battles.battles.values()
                assert state.machine.spec.title == "by name"
                assert state.machine.spec.opponent == bea.node.public_key
                await wait_until(
                    lambda: "by name" in screen_text(app), what="the battle on the Battles screen"
                )
                # Sponsoring a battle without an escrow, claiming a reward without a chain: one line each.
                await pilot.press("dollar_sign")
                await wait_until(lambda: isinstance(app.screen, FormDialog), what="the sponsor dialog")
                await pilot.press(*"0.1", "enter")
                await wait_until(
                    lambda: said(app, "Not sponsored: this battle has no prize escrow"), what="no escrow"
                )
                await pilot.press("r")
                await wait_until(
                    lambda: said(app, "No reward claimed: a reward claim needs a chain"),
                    what="no chain to claim",
                )
                # A vote without a chain is the signed reaction, and says why it is not binding.
                await pilot.press("v", "a")
                await wait_until(
                    lambda: said(app, "anonymous votes are off on this node"), what="the vote's note"
                )
                # Wallet: a tip and a priced stream need a chain.
                await pilot.press("w", "dollar_sign")
                await wait_until(lambda: isinstance(app.screen, FormDialog), what="the tip dialog")
                await pilot.press(*"DJ Bea", "tab", *"0.01", "enter")
                await wait_until(
                    lambda: said(app, "No tip sent: a tip needs a chain"), what="the tip's refusal"
                )
                await pilot.press("o")
                await paste(pilot, "lavfi:sine=frequency=440")
                await pilot.press("tab", "tab", *"1000", "enter")
                await wait_until(
                    lambda: said(app, "Not live: a priced stream needs a chain"), what="no price"
                )
                assert backend.live is not None and not backend.live.streams()  # no stream went out
                await pilot.press("q")
                await pilot.pause()
        assert backend.node is None and app.return_code == 0


async def test_commands_through_a_daemon_say_the_same(tmp_path: Path) -> None:
    home = make_home(tmp_path, "daemon")
    options = NodeOptions(listen=[LOOPBACK], bootstrap=[])
    async with NodeServices(home, options=options, control=True):
        app = DjmeshApp(ControlBackend(home), watch_peers=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(app.ready.is_set, what="attached")
            await pilot.press("w", "dollar_sign", *"somebody", "tab", *"0.01", "enter")
            await wait_until(lambda: said(app, "No tip sent: a tip needs a chain"), what="the tip's refusal")
            await pilot.press("dollar_sign", *"somebody", "tab", *"lots", "enter")
            await wait_until(
                lambda: said(app, "No tip sent: the amount must be a number of ETH"), what="bad amount"
            )
            await pilot.press("a", "r")  # no battles: nothing to claim
            await wait_until(lambda: said(app, "No battles yet"), what="the empty list's note")
            await pilot.press("q")
            await pilot.pause()
        assert app.return_code == 0


async def test_a_tip_from_the_app_reaches_the_peers_wallet_on_chain(tmp_path: Path) -> None:
    """With a chain (py-evm in-process, the demo's contracts), the Wallet screen's tip pays DJ Bea, found by
    name, at the address her node bound to her peer ID; the chain shows the amount arrive."""
    from djmesh.node.demo_ledger import DemoLedger

    ledger = await DemoLedger.open(None)
    bea_money, my_money = await ledger.fund("bea"), await ledger.fund("tui")
    async with bootstrap_server() as boot:
        options = NodeOptions(listen=[LOOPBACK], bootstrap=boot)
        bea_home = make_home(tmp_path, "bea")
        async with NodeServices(
            bea_home, options=options, ledger=ledger.node_ledger(bea_money), auto_join=False
        ) as bea:
            await bea.node.set_profile(Profile(name="DJ Bea"))
            backend = NodeBackend(make_home(tmp_path, "tui"), options, ledger=ledger.node_ledger(my_money))
            app = DjmeshApp(backend, watch_peers=False)
            async with app.run_test(size=SIZE) as pilot:
                await wait_until(app.ready.is_set, what="the app's node to start")
                node = backend.node
                assert node is not None
                await node.follow(bea.node.peer_id)
                await wait_until(
                    lambda: node.names.find("DJ Bea") == [bea.node.peer_id], what="DJ Bea's name"
                )
                before = ledger.chain.balance(bea_money.account.address)
                await pilot.press("w", "dollar_sign", *"DJ Bea", "tab", *"0.01", "enter")
                await wait_until(
                    lambda: said(app, f"Tipped {10**16} wei to {bea_money.account.address}"),
                    what=lambda: f"the tip; notes: {notes(app)}",
                )
                assert ledger.chain.balance(bea_money.account.address) - before == 10**16
                await pilot.press("q")
                await pilot.pause()


async def test_a_dj_playing_live_cues_the_next_track_from_the_app(tmp_path: Path) -> None:
    """`k` on the Battles screen: the track change is signed into the app's node's live stream."""
    async with bootstrap_server() as boot:
        backend = NodeBackend(make_home(tmp_path, "dj"), NodeOptions(listen=[LOOPBACK], bootstrap=boot))
        app = DjmeshApp(backend, watch_peers=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(app.ready.is_set, what="the app's node to start")
            assert backend.services is not None
            live = backend.services.live
            await pilot.press("a", "k", "enter")
            await wait_until(
                lambda: said(app, "Nothing is live: no cue sent"), what="the cue with nothing live"
            )
            stream_id = await live.start_stream(str(write_wav(tmp_path / "deck.wav", 20.0)), title="deck")
            await pilot.press("k", *"Second track", "enter")
            await wait_until(
                lambda: [cue.title for cue in live.cues(stream_id)] == ["Second track"], what="the signed cue"
            )
            assert said(app, "Track change marked in 1 live stream(s)")
            await live.stop_stream(stream_id)
