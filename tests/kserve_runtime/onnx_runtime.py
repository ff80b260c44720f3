"""An MLServer runtime that serves an ONNX file with ONNX Runtime: MLServer (Seldon's KServe v2 server) is the
real model server ``tests/test_kserve.py`` benchmarks through the KServe v2 HTTP protocol."""

import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxModel(MLModel):
    async def load(self) -> bool:
        self._session = ort.InferenceSession(self.settings.parameters.uri, providers=["CPUExecutionProvider"])
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feeds = {i.name: NumpyCodec.decode_input(i) for i in payload.inputs}
        names = [o.name for o in self._session.get_outputs()]
        values = self._session.run(names, feeds)
        return InferenceResponse(model_name=self.name,
                                 outputs=[NumpyCodec.encode_output(n, v) for n, v in zip(names, values, strict=True)])
