"""Start-up cost of the test split's unreadable-image scan, cold and cached.

    python -m experiments.bench.image_scan --images 50000 --folder /tmp/scan

writes N small JPEGs (64x48, about Office-Home's aspect) under FOLDER, then
times datasets.image_check.header_problems on them twice with an empty
cache folder: the first call opens every header, the second finds the
same sizes and mtimes in the cache and opens nothing.
"""
import argparse
import os
import os.path as osp
import tempfile
import time

from PIL import Image

from datasets.image_check import header_problems


def write_split(folder: str, n: int) -> list:
    img = Image.new("RGB", (64, 48), (120, 80, 40))
    paths = []
    for i in range(n):
        sub = osp.join(folder, f"class_{i % 100:03d}")
        os.makedirs(sub, exist_ok=True)
        path = osp.join(sub, f"{i:06d}.jpg")
        if not osp.exists(path):
            img.save(path)
        paths.append(path)
    return paths


def measure(n: int, folder: str) -> dict:
    paths = write_split(folder, n)
    cache = tempfile.mkdtemp(prefix="scan_cache_")
    times = {}
    for label in ("cold", "cached"):
        start = time.perf_counter()
        header_problems(paths, cache)
        times[label] = time.perf_counter() - start
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50000)
    parser.add_argument("--folder", default=osp.join(tempfile.gettempdir(), "adu_scan_bench"))
    args = parser.parse_args(argv)
    times = measure(args.images, args.folder)
    print(f"{args.images} images: header scan {times['cold']:.2f} s cold, "
          f"{times['cached']:.2f} s cached")


if __name__ == "__main__":
    main()
