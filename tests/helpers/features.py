"""Comparing two feature passes byte for byte (consensus needs every judge to read the same features)."""

from __future__ import annotations

import dataclasses

import numpy as np

from djmesh.dsp.features import Features


def assert_same_features(got: Features, want: Features) -> None:
    for field in dataclasses.fields(want):
        a, b = getattr(got, field.name), getattr(want, field.name)
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, field.name
            assert a.tobytes() == b.tobytes(), f"{field.name} differs"
        else:
            assert repr(a) == repr(b), f"{field.name}: {a!r} != {b!r}"
