"""The measurement the ledger benchmark prints runs through the real payment path and reads units from the chain."""

from __future__ import annotations

from djmesh.ledger.solana.measure import format_figures, measure


def test_measurement_covers_sol_and_token_payments_with_chain_compute_units() -> None:
    figures = {figure.label: figure for figure in measure(transfers=5)}
    bare_sol = figures["LiteSVM bare SOL transfer (reference)"]
    paid_sol = figures["djmesh pay_sol + memo, preflight on"]
    bare_token = figures["LiteSVM bare SPL transfer_checked (reference)"]
    paid_token = figures["djmesh pay_token + memo, account exists"]
    opening = figures["djmesh pay_token + memo, opening the DJ's token account"]
    assert all(figure.transfers > 0 and figure.per_second > 0 for figure in figures.values())
    # The memo instruction costs compute units on top of the bare transfer; opening an account costs more still.
    assert paid_sol.compute_units > bare_sol.compute_units > 0
    assert opening.compute_units > paid_token.compute_units > bare_token.compute_units > 0
    table = format_figures(list(figures.values()))
    assert all(label in table for label in figures)
