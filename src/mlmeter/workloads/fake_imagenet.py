"""A fake ImageNet validation directory: generated JPEG images of varied sizes plus ``val_map.txt``.

Like the reference ``make_fake_imagenet.sh`` (for performance runs without the real data), but offline:
the images are drawn, not downloaded. Labels are random classes 0–999, so accuracy on it means nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlmeter.util.atomic import write_bytes, write_text
from mlmeter.workloads.base import WorkloadError
from mlmeter.workloads.imagenet import _cv2


def _image(rng: np.random.Generator, k: int) -> np.ndarray:
    cv2 = _cv2()
    w, h = (int(x) for x in rng.integers(160, 801, size=2))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(0, 255, size=3).astype(np.float32)
    slope = rng.uniform(-0.4, 0.4, size=(2, 3)).astype(np.float32)
    img = base + xx[..., None] * slope[0] + yy[..., None] * slope[1]
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(3, 12))):
        color = tuple(int(c) for c in rng.integers(0, 256, size=3))
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        if rng.random() < 0.5:
            cv2.circle(img, centre, int(rng.integers(5, max(6, min(w, h) // 3))), color, -1)
        else:
            corner = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.rectangle(img, centre, corner, color, -1)
    if k % 7 == 6:  # some grayscale images, as ImageNet has
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return img


def make_fake_imagenet(root: Path, count: int = 8, *, seed: int = 0) -> int:
    """Write ``count`` images under ``root/val/`` and ``root/val_map.txt``; returns the number written."""
    if not 1 <= count <= 10_000_000:
        raise WorkloadError(f"--count {count}: give from 1 to 10,000,000 images")
    existing = root / "val_map.txt"
    if existing.is_file() and len(existing.read_text(errors="replace").splitlines()) > count:
        raise WorkloadError(f"{existing} lists more images than --count {count}; a generator never shrinks a "
                            "dataset: choose a new directory or a larger --count")
    cv2 = _cv2()
    rng = np.random.default_rng(seed)
    (root / "val").mkdir(parents=True, exist_ok=True)
    lines = []
    for k in range(count):
        name = f"val/fake_{k:06d}.JPEG"
        ok, buf = cv2.imencode(".jpg", _image(rng, k), [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise RuntimeError(f"OpenCV could not encode {name}")
        write_bytes(root / name, buf.tobytes())
        lines.append(f"{name} {int(rng.integers(0, 1000))}\n")
    write_text(root / "val_map.txt", "".join(lines))
    return count
