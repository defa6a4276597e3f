"""The ONNX plumbing shared by djmesh's small pinned models (the genre model here, the judge's in judge/):
one way to serialize a model (so rebuilding gives the same bytes, hence the same pinned hash) and one way
to run it (a single-threaded session: results do not depend on threads, but the cores are shared)."""

from __future__ import annotations

from typing import Any

OPSET = 17


def serialized_model(graph: Any, producer_name: str) -> bytes:
    """``graph`` (an onnx GraphProto) as a checked model, byte for byte the same on every build."""
    import onnx
    from onnx import helper

    model = helper.make_model(
        graph,
        producer_name=producer_name,
        producer_version="1",
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString(deterministic=True))


def single_threaded_session(data: bytes) -> Any:
    """An onnxruntime session on ``data``; onnxruntime's own exceptions pass through (callers name the model)."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
