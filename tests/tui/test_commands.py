"""What the command dialogs' fields become: the control parameters `djmesh battle challenge`, `tip` and
`live start` send; typing mistakes are refused in one line before anything is sent."""

from __future__ import annotations

import pytest

from djmesh.tui.backend import BackendError
from djmesh.tui.commands import challenge_params, live_start_params, tip_params


def test_a_full_challenge_form_gives_the_clis_parameters() -> None:
    values = {
        "peer": "DJ Bea",
        "set-file": "",
        "live": "alsa:hw:1",
        "battle-name": "Friday",
        "genre": "techno",
        "tracks": "4",
        "set-seconds": "600",
        "start-in": "90",
        "prize": "0.25",
        "crowd-weight": "0.3",
        "mode": "sequential",
    }
    assert challenge_params(values) == {
        "peer": "DJ Bea",
        "live": "alsa:hw:1",
        "title": "Friday",
        "genre": "techno",
        "tracks": 4,
        "set_seconds": 600,
        "start_in_s": 90.0,
        "prize_wei": str(25 * 10**16),
        "crowd_weight": 0.3,
        "mode": "sequential",
    }


def test_empty_fields_take_the_nodes_defaults() -> None:
    assert challenge_params({"peer": "x", "set-file": "set.toml", "tracks": "", "prize": ""}) == {
        "peer": "x",
        "set": "set.toml",
    }


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"peer": "x", "set-file": "a.toml", "live": "alsa:"}, "a set file or a live source"),
        ({"peer": "x", "set-file": "a.toml", "tracks": "six"}, "tracks must be a whole number"),
        ({"peer": "x", "set-file": "a.toml", "prize": "lots"}, "the prize must be a number of ETH"),
        ({"peer": "x", "set-file": "a.toml", "prize": "-1"}, "the prize must be positive"),
    ],
)
def test_typing_mistakes_are_one_line(values: dict[str, str], says: str) -> None:
    with pytest.raises(BackendError, match=says):
        challenge_params(values)


def test_tip_and_priced_stream_parameters() -> None:
    assert tip_params({"peer": "DJ Bea", "amount": "5000wei", "chain": ""}) == {
        "peer": "DJ Bea",
        "amount_wei": "5000",
        "chain": "eth",
    }
    assert live_start_params({"source": "-", "title": "", "price": "1000"}) == {
        "source": "-",
        "price_wei_per_s": "1000",
    }
    with pytest.raises(BackendError, match="positive number of wei per second"):
        live_start_params({"source": "-", "price": "0"})
