"""Coverage-guided fuzz target for the envelope decoder (atheris).

Run: `pip install atheris && python tests/protocol/fuzz_envelope.py -max_total_time=60`.
The property is the decoder's contract: any input either decodes or raises ProtocolError.
"""

from __future__ import annotations

import contextlib
import sys

from djmesh.protocol import ProtocolError, decode_envelope


def check(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_envelope(data, now_ms=1_790_000_000_000)


def main() -> None:
    import atheris  # type: ignore[import-not-found]

    atheris.instrument_all()
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
