"""Small ONNX models built by the tests, with the signatures of the official ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def imagenet_classifier(path: Path, *, argmax_output: bool = True, classes: int = 1001, seed: int = 0,
                        input_name: str = "input_tensor:0") -> Path:
    """The MLPerf ResNet-50 ONNX signature (input float32[N,3,224,224]; ``ArgMax:0`` int64[N] and
    ``softmax_tensor:0`` [N, 1001]) over a tiny network: 8×8 average pooling, then a linear layer."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.05, (3 * 28 * 28, classes)).astype(np.float32)
    nodes = [
        helper.make_node("AveragePool", [input_name], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["softmax_tensor:0"], axis=1),
    ]
    outputs = [helper.make_tensor_value_info("softmax_tensor:0", TensorProto.FLOAT, ["N", classes])]
    if argmax_output:
        nodes += [helper.make_node("ArgMax", ["softmax_tensor:0"], ["am"], axis=1, keepdims=0),
                  helper.make_node("Identity", ["am"], ["ArgMax:0"])]
        outputs.insert(0, helper.make_tensor_value_info("ArgMax:0", TensorProto.INT64, ["N"]))
    graph = helper.make_graph(nodes, "tiny_imagenet",
                              [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", 3, 224, 224])],
                              outputs, [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def digits_tflite(path: Path) -> Path:
    """The embedded digits MLP as a TFLite flatbuffer (two FULLY_CONNECTED ops, the first with fused ReLU),
    written with the ``tflite`` schema package, so the TFLite backend is tested without TensorFlow."""
    import importlib

    import flatbuffers
    import tflite

    # the package re-exports the table classes under the module names; the builder functions are in the modules
    Buffer, FullyConnectedOptions, Model, Operator, OperatorCode, SubGraph, Tensor = (
        importlib.import_module(f"tflite.{m}")
        for m in ("Buffer", "FullyConnectedOptions", "Model", "Operator", "OperatorCode", "SubGraph", "Tensor")
    )

    from mlmeter.workloads.digits import data_file

    with np.load(data_file("weights_fp32.npz")) as z:
        w1, b1, w2, b2 = (np.ascontiguousarray(z[k]) for k in ("w1", "b1", "w2", "b2"))
    consts = [w1.T.copy(), b1, w2.T.copy(), b2]  # TFLite keeps FC weights as [out, in]
    b = flatbuffers.Builder(1024)

    def ivec(start, values):
        start(b, len(values))
        for v in reversed(values):
            b.PrependInt32(v)
        return b.EndVector()

    buffers = []
    for data in [None, *consts]:
        vec = b.CreateNumpyVector(np.frombuffer(data.astype(np.float32).tobytes(), np.uint8)) if data is not None else None
        Buffer.Start(b)
        if vec is not None:
            Buffer.AddData(b, vec)
        buffers.append(Buffer.End(b))
    specs = [("pixels", [1, 64], 0), ("w1", list(consts[0].shape), 1), ("b1", list(consts[1].shape), 2),
             ("hidden", [1, w1.shape[1]], 0), ("w2", list(consts[2].shape), 3), ("b2", list(consts[3].shape), 4),
             ("logits", [1, 10], 0)]
    tensors = []
    for name, shape, buf in specs:
        n = b.CreateString(name)
        shp = ivec(Tensor.StartShapeVector, shape)
        sig = ivec(Tensor.StartShapeSignatureVector, [-1, *shape[1:]] if buf == 0 else shape)
        Tensor.Start(b)
        Tensor.AddShape(b, shp)
        Tensor.AddShapeSignature(b, sig)
        Tensor.AddType(b, tflite.TensorType.FLOAT32)
        Tensor.AddBuffer(b, buf)
        Tensor.AddName(b, n)
        tensors.append(Tensor.End(b))
    ops = []
    for ins, out, act in (([0, 1, 2], 3, tflite.ActivationFunctionType.RELU), ([3, 4, 5], 6, tflite.ActivationFunctionType.NONE)):
        FullyConnectedOptions.Start(b)
        FullyConnectedOptions.AddFusedActivationFunction(b, act)
        opt = FullyConnectedOptions.End(b)
        iv = ivec(Operator.StartInputsVector, ins)
        ov = ivec(Operator.StartOutputsVector, [out])
        Operator.Start(b)
        Operator.AddOpcodeIndex(b, 0)
        Operator.AddInputs(b, iv)
        Operator.AddOutputs(b, ov)
        Operator.AddBuiltinOptionsType(b, tflite.BuiltinOptions.FullyConnectedOptions)
        Operator.AddBuiltinOptions(b, opt)
        ops.append(Operator.End(b))

    def tvec(start, items):
        start(b, len(items))
        for it in reversed(items):
            b.PrependUOffsetTRelative(it)
        return b.EndVector()

    tv, opv = tvec(SubGraph.StartTensorsVector, tensors), tvec(SubGraph.StartOperatorsVector, ops)
    inv, outv = ivec(SubGraph.StartInputsVector, [0]), ivec(SubGraph.StartOutputsVector, [6])
    SubGraph.Start(b)
    SubGraph.AddTensors(b, tv)
    SubGraph.AddInputs(b, inv)
    SubGraph.AddOutputs(b, outv)
    SubGraph.AddOperators(b, opv)
    sg = SubGraph.End(b)
    OperatorCode.Start(b)
    OperatorCode.AddDeprecatedBuiltinCode(b, tflite.BuiltinOperator.FULLY_CONNECTED)
    OperatorCode.AddBuiltinCode(b, tflite.BuiltinOperator.FULLY_CONNECTED)
    OperatorCode.AddVersion(b, 1)
    code = OperatorCode.End(b)
    codes, subgraphs = tvec(Model.StartOperatorCodesVector, [code]), tvec(Model.StartSubgraphsVector, [sg])
    bufv = tvec(Model.StartBuffersVector, buffers)
    Model.Start(b)
    Model.AddVersion(b, 3)
    Model.AddOperatorCodes(b, codes)
    Model.AddSubgraphs(b, subgraphs)
    Model.AddBuffers(b, bufv)
    b.Finish(Model.End(b), file_identifier=b"TFL3")
    path.write_bytes(b.Output())
    return path
