"""The node's commands as the app's dialogs fill them in: field values in, control parameters out.

The app runs the same control methods as the CLI (``Backend.command``: `battle_challenge`,
`battle_accept`, `battle_join`, `battle_sponsor`, `vote`, `reward_claim`, `tip`, `live_start`); this
module only turns what a user typed into those methods' parameters, checking the typing mistakes
(a word where a number goes, an amount that is not ETH) before anything is sent, and turns an
answer into the one line the app shows.
"""

from __future__ import annotations

from typing import Any

from djmesh.tui.backend import BackendError

# Dialog field IDs -> control parameters (the same names `djmesh battle challenge` sends).
CHALLENGE_NUMBERS = {"tracks": "tracks", "set-seconds": "set_seconds"}
CHALLENGE_FLOATS = {"start-in": "start_in_s", "crowd-weight": "crowd_weight"}


def wei_text(text: str, what: str) -> str:
    """ETH ("0.25") or wei ("5000wei") as decimal text of wei, the way the CLI reads amounts."""
    from djmesh.node.cli import CliError
    from djmesh.node.ledger_cli import parse_amount

    try:
        return str(parse_amount(text))
    except CliError as exc:
        raise BackendError(str(exc).replace("--amount", what)) from None


def set_or_live(values: dict[str, str]) -> dict[str, str]:
    """``set`` (a set file) or ``live`` (a source, as `live start` takes it): exactly one."""
    set_file, live = values.get("set-file", ""), values.get("live", "")
    if bool(set_file) == bool(live):
        raise BackendError("give a set file or a live source (one of them)")
    return {"set": set_file} if set_file else {"live": live}


def _whole(text: str, name: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise BackendError(f"{name} must be a whole number, not {text!r}") from None


def _decimal(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise BackendError(f"{name} must be a number, not {text!r}") from None


def challenge_params(values: dict[str, str]) -> dict[str, Any]:
    """`battle_challenge`'s parameters; an empty field takes the node's default (as an absent flag)."""
    params: dict[str, Any] = {"peer": values.get("peer", ""), **set_or_live(values)}
    for field, name in (("battle-name", "title"), ("genre", "genre"), ("mode", "mode")):
        if values.get(field):
            params[name] = values[field]
    for field, name in CHALLENGE_NUMBERS.items():
        if values.get(field):
            params[name] = _whole(values[field], field.replace("-", " "))
    for field, name in CHALLENGE_FLOATS.items():
        if values.get(field):
            params[name] = _decimal(values[field], field.replace("-", " "))
    if values.get("prize"):
        params["prize_wei"] = wei_text(values["prize"], "the prize")
    return params


def tip_params(values: dict[str, str]) -> dict[str, Any]:
    """`tip`'s parameters: a peer (ID or name), an amount in ETH, a chain (default eth)."""
    return {
        "peer": values.get("peer", ""),
        "amount_wei": wei_text(values.get("amount", ""), "the amount"),
        "chain": values.get("chain") or "eth",
    }


def live_start_params(values: dict[str, str]) -> dict[str, Any]:
    """`live_start`'s parameters: the source, a title, and a price in wei per second (empty: free)."""
    params: dict[str, Any] = {"source": values.get("source", "")}
    if values.get("title"):
        params["title"] = values["title"]
    if values.get("price"):
        price = _whole(values["price"], "the price (wei per second)")
        if price <= 0:
            raise BackendError("the price must be a positive number of wei per second")
        params["price_wei_per_s"] = str(price)
    return params


FAILED = {
    "battle_challenge": "Challenge not sent",
    "battle_accept": "Not accepted",
    "battle_join": "Not joined",
    "battle_sponsor": "Not sponsored",
    "reward_claim": "No reward claimed",
    "tip": "No tip sent",
    "live_start": "Not live",
}


def failed_text(method: str, error: BackendError) -> str:
    """One line: which command did not happen, and the node's reason (what to do)."""
    return f"{FAILED.get(method, method)}: {error}"


def done_text(method: str, answer: Any) -> str:
    """The one line that says what a command did (the CLI's text, from the same answer)."""
    found = answer if isinstance(answer, dict) else {}
    tx = found.get("tx", "")
    if method == "battle_challenge":
        return f"Challenge sent: battle {str(found.get('battle_id', ''))[:12]}"
    if method == "battle_accept":
        stake = int(found.get("stake_wei") or 0)
        return "Accepted: your set plays when the battle starts" + (f" (staked {stake} wei)" if stake else "")
    if method == "battle_join":
        return "Joined as a viewer and committee candidate"
    if method == "battle_sponsor":
        return f"Sponsored {found.get('amount_wei')} wei: tx {tx}"
    if method == "reward_claim":
        return f"Claimed {found.get('amount_wei')} wei: tx {tx}"
    if method == "tip":
        return f"Tipped {found.get('amount_wei')} wei to {found.get('to')}: tx {tx}"
    if method == "live_start":
        price = found.get("price_wei_per_s")
        return f"Live: stream {str(found.get('stream_id', ''))[:12]}" + (
            f" at {price} wei/s" if price else ""
        )
    if method == "live_cue":
        streams = found.get("streams") or []
        return (
            f"Track change marked in {len(streams)} live stream(s)"
            if streams
            else "Nothing is live: no cue sent"
        )
    return f"{method}: done"
