"""ResNet-50 v1.5 (torchvision layout, batch-norm folded into the convolutions) as ONNX with random weights,
built with ``onnx.helper``, with the MLPerf signature (``input_tensor:0`` → ``ArgMax:0``, ``softmax_tensor:0``).
For benchmarks only: the numbers it computes are meaningless, the work it does is ResNet-50's."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def build(path: Path, *, seed: int = 0, size: int = 224, classes: int = 1001) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    count = [0]

    def name(prefix: str) -> str:
        count[0] += 1
        return f"{prefix}{count[0]}"

    def conv(x: str, cin: int, cout: int, k: int, stride: int, relu: bool) -> str:
        w, b, y = name("w"), name("b"), name("conv")
        inits.append(numpy_helper.from_array(
            rng.normal(0, np.sqrt(2 / (cin * k * k)), (cout, cin, k, k)).astype(np.float32), w))
        inits.append(numpy_helper.from_array(np.zeros(cout, np.float32), b))
        nodes.append(helper.make_node("Conv", [x, w, b], [y], kernel_shape=[k, k], strides=[stride, stride],
                                      pads=[k // 2] * 4))
        if not relu:
            return y
        r = name("relu")
        nodes.append(helper.make_node("Relu", [y], [r]))
        return r

    x = conv("input_tensor:0", 3, 64, 7, 2, True)
    pooled = name("pool")
    nodes.append(helper.make_node("MaxPool", [x], [pooled], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    x, cin = pooled, 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            s = stride if i == 0 else 1
            y = conv(x, cin, width, 1, 1, True)
            y = conv(y, width, width, 3, s, True)  # v1.5: the stride sits on the 3×3 convolution
            y = conv(y, width, width * 4, 1, 1, False)
            short = conv(x, cin, width * 4, 1, s, False) if i == 0 else x
            added, out = name("add"), name("relu")
            nodes += [helper.make_node("Add", [y, short], [added]), helper.make_node("Relu", [added], [out])]
            x, cin = out, width * 4
    gap, flat = name("gap"), name("flat")
    nodes += [helper.make_node("GlobalAveragePool", [x], [gap]), helper.make_node("Flatten", [gap], [flat])]
    inits += [numpy_helper.from_array(rng.normal(0, 0.01, (2048, classes)).astype(np.float32), "fc_w"),
              numpy_helper.from_array(np.zeros(classes, np.float32), "fc_b")]
    nodes += [helper.make_node("Gemm", [flat, "fc_w", "fc_b"], ["logits"]),
              helper.make_node("Softmax", ["logits"], ["softmax_tensor:0"], axis=1),
              helper.make_node("ArgMax", ["softmax_tensor:0"], ["ArgMax:0"], axis=1, keepdims=0)]
    graph = helper.make_graph(
        nodes, "resnet50_v1.5_random",
        [helper.make_tensor_value_info("input_tensor:0", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("ArgMax:0", TensorProto.INT64, ["N"]),
         helper.make_tensor_value_info("softmax_tensor:0", TensorProto.FLOAT, ["N", classes])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
