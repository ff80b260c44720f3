"""Models for a real Triton Inference Server on loopback (NVIDIA's ``tritonserver``, which PyTriton from PyPI
bundles), run in a venv of its own by the KServe v2 tests: ``digits_fp32`` (the embedded digits ONNX model on ONNX
Runtime, dynamically batched), ``copy_llm`` (a decoupled model behind Triton's generate extension: it streams the
words of the prompt's last ``Sentence:`` line, one response per word, at most ``max_tokens`` of them) and
``copy_llm_whole`` (the same answer in one response, for ``generate`` without a stream).

Usage: ``python models.py HTTP_PORT GRPC_PORT METRICS_PORT DIGITS_ONNX``; SIGTERM stops the server.
"""

from __future__ import annotations

import signal
import sys

import numpy as np
import onnxruntime as ort
from pytriton.decorators import batch
from pytriton.model_config import ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig


def words(prompt: str) -> list[str]:
    lines = [ln for ln in prompt.splitlines() if ln.startswith("Sentence:")]
    return lines[-1].removeprefix("Sentence:").split() if lines else ["(nothing", "to", "copy)"]


def main() -> None:
    http, grpc, metrics, onnx_path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    @batch
    def digits(pixels: np.ndarray) -> dict[str, np.ndarray]:
        return {"logits": session.run(None, {name: pixels.astype(np.float32)})[0]}

    def answer(req: object) -> list[str]:
        prompt = req["text_input"].reshape(-1)[0].decode()  # type: ignore[index]
        limit = int((getattr(req, "parameters", None) or {}).get("max_tokens", 64))
        return [f" {w}" for w in words(prompt)[:limit]]

    def copy_llm(requests: list) -> object:
        for piece in answer(requests[0]):
            yield [{"text_output": np.array([piece.encode()], dtype=object)}]

    def copy_llm_whole(requests: list) -> list[dict[str, np.ndarray]]:
        return [{"text_output": np.array(["".join(answer(r)).encode()], dtype=object)} for r in requests]

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # leave the context below: it stops tritonserver
    cfg = TritonConfig(http_address="127.0.0.1", http_port=http, grpc_address="127.0.0.1", grpc_port=grpc,
                       metrics_port=metrics)
    with Triton(config=cfg) as triton:
        triton.bind(model_name="digits_fp32", infer_func=digits,
                    inputs=[Tensor(name="pixels", dtype=np.float32, shape=(64,))],
                    outputs=[Tensor(name="logits", dtype=np.float32, shape=(10,))],
                    config=ModelConfig(max_batch_size=256))
        triton.bind(model_name="copy_llm", infer_func=copy_llm,
                    inputs=[Tensor(name="text_input", dtype=bytes, shape=(1,))],
                    outputs=[Tensor(name="text_output", dtype=bytes, shape=(1,))],
                    config=ModelConfig(batching=False, decoupled=True))
        triton.bind(model_name="copy_llm_whole", infer_func=copy_llm_whole,
                    inputs=[Tensor(name="text_input", dtype=bytes, shape=(1,))],
                    outputs=[Tensor(name="text_output", dtype=bytes, shape=(1,))],
                    config=ModelConfig(batching=False))
        triton.serve()


if __name__ == "__main__":
    main()
