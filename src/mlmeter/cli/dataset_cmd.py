"""``mlmeter dataset``: make datasets (an ImageNet-layout directory of generated images)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlmeter.cli import options
from mlmeter.workloads.fake_imagenet import make_fake_imagenet


def add_arguments(ds: argparse.ArgumentParser) -> None:
    dsub = ds.add_subparsers(dest="dataset_command", required=True)
    fi = dsub.add_parser("fake-imagenet", help="an ImageNet-layout directory of generated JPEG images")
    fi.add_argument("directory", type=Path)
    fi.add_argument("--count", type=options.whole(1, 10_000_000), default=8)
    fi.add_argument("--seed", type=int, default=0)
    fi.set_defaults(func=cmd_fake_imagenet)


def cmd_fake_imagenet(a: argparse.Namespace) -> int:
    listed = make_fake_imagenet(a.directory, a.count, seed=a.seed)
    print(f"wrote {listed} images and val_map.txt to {a.directory}")
    return 0
