"""How fast train.py's data loader delivers the paper's 224 px training
batches from JPEG files (for tools/gpu_check.py): beside what the GPU step
consumes, it says whether training is data-bound."""
import contextlib
import os
import time

from trainers.run.files import PROJECT_ROOT as REPO

METHOD_CFG = os.path.join(REPO, "configs", "trainers", "ADU", "vit_b16_ep50.yaml")
DATASET_CFG = os.path.join(REPO, "configs", "datasets", "office_home.yaml")


def write_jpegs(folder, count, size):
    """`count` JPEG photos-to-be (smooth colour fields plus noise, like a
    photo's statistics for the decoder), `size` = (width, height)."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    os.makedirs(folder, exist_ok=True)
    w, h = size
    paths = []
    for i in range(count):
        coarse = rng.integers(0, 256, (h // 32 + 1, w // 32 + 1, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((w, h), Image.BICUBIC)
        noise = rng.normal(0, 12, (h, w, 3))
        pixels = np.clip(np.asarray(image, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
        path = os.path.join(folder, f"{i:04d}.jpg")
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


LOADERS = {"dassl": "Dassl's loader (workers restarted every epoch)",
           "persistent": "DATALOADER.PERSISTENT_WORKERS True",
           "cache": "DATALOADER.CACHE_SHOTS True (+ persistent workers)"}


def measure_loader(scratch, smoke, log, epochs=2, mode="dassl", workers=None):
    """Images/s of the training loader train.py builds for the paper's
    config (224 px, random resized crop + flip, its batch; `workers`, default
    the config's) over whole epochs, on an Office-Home-sized epoch drawn from
    a few hundred JPEG files of 512 x 384: `mode` is Dassl's loader (workers
    restarted every epoch), persistent workers, or the shot cache
    (trainers/engine/shot_loader.py; its one-off decoding timed apart)."""
    from dassl.data.data_manager import build_data_loader
    from dassl.data.datasets import Datum
    from dassl.data.transforms import build_transform

    import train
    from trainers.engine.shot_loader import CachedShots, build_train_loader
    opts = ["DATALOADER.TRAIN_X.BATCH_SIZE", "8"] if smoke else []
    if workers is not None:
        opts += ["DATALOADER.NUM_WORKERS", str(workers)]
    opts += ["DATALOADER.PERSISTENT_WORKERS", str(mode != "dassl"),
             "DATALOADER.CACHE_SHOTS", str(mode == "cache")]
    folder = os.path.join(scratch, "jpeg")
    count = 24 if smoke else 256
    files = (sorted(os.path.join(folder, f) for f in os.listdir(folder))[:count]
             if os.path.isdir(folder) else write_jpegs(folder, count, (512, 384)))
    with contextlib.redirect_stdout(log):  # cap_workers' note, Dassl's transform list
        train.register()  # the config tree train.py parses into: every trainer's keys
        cfg = train.setup_cfg(train.parse_args(["--config-file", METHOD_CFG,
                                                "--dataset-config-file", DATASET_CFG, *opts]))
        batch = cfg.DATALOADER.TRAIN_X.BATCH_SIZE
        per_epoch = batch * (2 if smoke else 16)  # Office-Home, 8 shots: ~16 batches of 128
        items = [Datum(impath=files[i % len(files)], label=i % 65, domain=i % 4)
                 for i in range(per_epoch)]
        tfm = build_transform(cfg, is_train=True)
        start = time.perf_counter()
        cache = (CachedShots(cfg, items, tfm, max(cfg.DATALOADER.NUM_WORKERS, 1))
                 if mode == "cache" else None)
        cache_seconds = time.perf_counter() - start
        loader = (build_data_loader(cfg, sampler_type=cfg.DATALOADER.TRAIN_X.SAMPLER,
                                    data_source=items, batch_size=batch, tfm=tfm, is_train=True)
                  if mode == "dassl" else build_train_loader(cfg, items, tfm, cache))
    start, images, shape = time.perf_counter(), 0, None
    for _ in range(epochs):
        for batch_data in loader:
            images += batch_data["img"].shape[0]
            shape = list(batch_data["img"].shape[1:])
    seconds = time.perf_counter() - start
    del loader
    return {"mode": mode, "workers": cfg.DATALOADER.NUM_WORKERS, "batch": batch,
            "image_shape": shape, "files": len(files), "images": images, "epochs": epochs,
            "seconds": seconds, "images_per_second": images / seconds,
            "cache_seconds": cache_seconds if cache is not None else None,
            "cache_mib": cache.nbytes / 2 ** 20 if cache is not None else None}


def measure_loaders(smoke, workers=2, epochs=2) -> dict:
    """measure_loader of each of LOADERS on the same JPEG files: {mode: its record}."""
    import io
    import tempfile
    with tempfile.TemporaryDirectory(prefix="loader_") as scratch:
        return {mode: measure_loader(scratch, smoke, io.StringIO(), epochs, mode, workers)
                for mode in LOADERS}
