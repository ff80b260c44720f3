"""ImageNet classification (ResNet-50 v1.5, MobileNet v1) with MLPerf's exact OpenCV pre-processing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mlmeter.workloads.base import ModelSource, QualityTarget, WorkloadError
from mlmeter.workloads.classification import Classifier

_MEANS_VGG = np.array([123.68, 116.78, 103.94], dtype=np.float32)  # R, G, B


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as exc:
        raise WorkloadError(
            "ImageNet pre-processing needs OpenCV; install it with: pip install 'mlmeter[vision]'"
        ) from exc
    return cv2


def resize_with_aspect_ratio(img: np.ndarray, out_h: int, out_w: int, interpolation: int,
                             scale: float = 87.5) -> np.ndarray:
    """Shorter side to ``out / 0.875`` (256 for 224), the longer side scaled and truncated, as MLPerf does."""
    height, width = img.shape[:2]
    new_h, new_w = int(100.0 * out_h / scale), int(100.0 * out_w / scale)
    if height > width:
        w, h = new_w, int(new_h * height / width)
    else:
        h, w = new_h, int(new_w * width / height)
    out: np.ndarray = _cv2().resize(img, (w, h), interpolation=interpolation)
    return out


def center_crop(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    height, width = img.shape[:2]
    left, right = int((width - out_w) / 2), int((width + out_w) / 2)
    top, bottom = int((height - out_h) / 2), int((height + out_h) / 2)
    return img[top:bottom, left:right]


def preprocess_vgg(bgr: np.ndarray, layout: str) -> np.ndarray:
    """ResNet-50 (TF/ONNX): RGB, area resize, 224 crop, float32 minus the per-channel means, no scaling."""
    cv2 = _cv2()
    img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    img = center_crop(resize_with_aspect_ratio(img, 224, 224, cv2.INTER_AREA), 224, 224)
    x = img.astype(np.float32) - _MEANS_VGG
    return np.ascontiguousarray(x.transpose(2, 0, 1)) if layout == "NCHW" else x


def preprocess_mobilenet(bgr: np.ndarray, layout: str) -> np.ndarray:
    """MobileNet v1: RGB, linear resize, 224 crop, scaled to [-1, 1]."""
    cv2 = _cv2()
    img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    img = center_crop(resize_with_aspect_ratio(img, 224, 224, cv2.INTER_LINEAR), 224, 224)
    x = (img.astype(np.float32) / 255.0 - 0.5) * 2.0
    return np.ascontiguousarray(x.transpose(2, 0, 1)) if layout == "NCHW" else x


def read_val_map(path: Path, count: int | None) -> tuple[list[str], np.ndarray]:
    """The first ``count`` lines of ``val_map.txt``: ``<relative path> <label>``; errors name file:line."""
    if not path.is_file():
        raise WorkloadError(f"{path}: image list not found (expected ImageNet's val_map.txt)")
    names: list[str] = []
    labels: list[int] = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if count is not None and len(names) >= count:
                break
            fields = line.split()
            if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
                raise WorkloadError(f"{path}:{n}: expected '<image path> <integer label>', got {line.rstrip()!r}")
            names.append(fields[0])
            labels.append(int(fields[1]))
    if not names:
        raise WorkloadError(f"{path}: the image list is empty")
    return names, np.asarray(labels, dtype=np.int64)


class ImageFolder:
    """An ImageNet-layout directory: images listed (with labels) in ``val_map.txt``, in QSL order."""

    def __init__(self, root: Path, names: list[str], labels: np.ndarray, layout: str, list_file: Path,
                 transform: Callable[[np.ndarray, str], np.ndarray]) -> None:
        self.name = f"imagenet:{root}"
        self.root, self.names, self.labels, self.layout = root, names, labels, layout
        self._list_file = list_file
        self._transform = transform
        missing = [(k, nm) for k, nm in enumerate(names) if not (root / nm).is_file()]
        if missing:
            shown = ", ".join(f"{nm} (line {k + 1})" for k, nm in missing[:5])
            raise WorkloadError(
                f"{root}: {len(missing)} of the {len(names)} images listed in {list_file} are missing: {shown}"
                f"{' …' if len(missing) > 5 else ''}. Restore them, or limit the run with --count."
            )

    def __len__(self) -> int:
        return len(self.names)

    def key(self, i: int) -> str:
        return self.names[i]

    def preprocess(self, i: int) -> np.ndarray:
        path = self.root / self.names[i]
        img = _cv2().imread(str(path))
        if img is None:
            raise WorkloadError(f"{path}: cannot decode the image (listed at {self._list_file}:{i + 1})")
        return self._transform(img, self.layout)


class _ImageNetWorkload(Classifier):
    loadgen_model: str
    transform: Callable[[np.ndarray, str], np.ndarray]
    onnx_source: ModelSource
    """The official ONNX file, which ONNX Runtime and OpenVINO both load."""

    def model_source(self, backend: str) -> ModelSource | Path | None:
        return self.onnx_source if backend in ("onnxruntime", "openvino") else None

    def __init__(self) -> None:
        super().__init__()
        self.layout = "NCHW"

    def open_dataset(self, path: Path | None, count: int | None, layout: str) -> ImageFolder:
        if path is None:
            raise WorkloadError(
                f"{self.name} needs --dataset-path (an ImageNet validation directory with val_map.txt; "
                "`mlmeter dataset fake-imagenet DIR` makes a small fake one)"
            )
        if not path.is_dir():
            raise WorkloadError(f"{path}: dataset directory not found")
        self.layout = layout
        self.sample_shape = (3, 224, 224) if layout == "NCHW" else (224, 224, 3)
        names, labels = read_val_map(path / "val_map.txt", count)
        return ImageFolder(path, names, labels, layout, path / "val_map.txt", type(self).transform)


class ResNet50(_ImageNetWorkload):
    """ResNet-50 v1.5, the MLPerf classification model."""

    name = "resnet50"
    loadgen_model = "resnet50"
    preprocessing_id = "imagenet-vgg-v1"
    # README reference 76.456 % top-1; the submission checker decides with 76.46 × 0.99.
    target = QualityTarget("top-1 accuracy (%)", 76.456, 0.99, 76.46 * 0.99)
    transform = staticmethod(preprocess_vgg)
    onnx_source = ModelSource("resnet50_v1.onnx", "https://zenodo.org/record/4735647/files/resnet50_v1.onnx",
                              "f6a4da60cd5f084d97efc2c1ddb10beb", "MLPerf ResNet-50 v1.5, ONNX opset 11")


class MobileNetV1(_ImageNetWorkload):
    """MobileNet v1 1.0/224 (retired from MLPerf rounds, still a useful small classifier)."""

    name = "mobilenet"
    loadgen_model = "mobilenet"
    preprocessing_id = "imagenet-mobilenet-v1"
    target = QualityTarget("top-1 accuracy (%)", 71.676, 0.99, 71.676 * 0.99)
    transform = staticmethod(preprocess_mobilenet)
    onnx_source = ModelSource("mobilenet_v1_1.0_224.onnx",
                              "https://zenodo.org/record/4735651/files/mobilenet_v1_1.0_224.onnx", "",
                              "MLPerf MobileNet v1, ONNX opset 11 (no published checksum)")
