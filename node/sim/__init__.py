"""Simulation: the real node code on an in-memory network and virtual time (node/clock.py).

``network`` is the in-memory transport (latency, jitter, loss, reordering, bandwidth, partitions);
``mesh`` runs a live stream's relay tree on it. Used by bench/scale.py, bench/chaos.py and tests.
"""
