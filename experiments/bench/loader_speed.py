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


def measure_loader(scratch, smoke, log, epochs=2):
    """Images/s of the training loader train.py builds for the paper's
    config (224 px, random resized crop + flip, its workers, its batch), over
    whole epochs (workers restart each epoch, as in training), on an
    Office-Home-sized epoch drawn from a few hundred JPEG files."""
    from dassl.data.data_manager import build_data_loader
    from dassl.data.datasets import Datum
    from dassl.data.transforms import build_transform

    import train
    opts = ["DATALOADER.TRAIN_X.BATCH_SIZE", "8"] if smoke else []
    files = write_jpegs(os.path.join(scratch, "jpeg"), 24 if smoke else 256, (512, 384))
    with contextlib.redirect_stdout(log):  # cap_workers' note, Dassl's transform list
        cfg = train.setup_cfg(train.parse_args(["--config-file", METHOD_CFG,
                                                "--dataset-config-file", DATASET_CFG, *opts]))
        batch = cfg.DATALOADER.TRAIN_X.BATCH_SIZE
        per_epoch = batch * (2 if smoke else 16)  # Office-Home, 8 shots: ~16 batches of 128
        items = [Datum(impath=files[i % len(files)], label=i % 65, domain=i % 4)
                 for i in range(per_epoch)]
        loader = build_data_loader(cfg, sampler_type=cfg.DATALOADER.TRAIN_X.SAMPLER,
                                   data_source=items, batch_size=batch,
                                   tfm=build_transform(cfg, is_train=True), is_train=True)
    start, images, shape = time.perf_counter(), 0, None
    for _ in range(epochs):
        for batch_data in loader:
            images += batch_data["img"].shape[0]
            shape = list(batch_data["img"].shape[1:])
    seconds = time.perf_counter() - start
    return {"workers": cfg.DATALOADER.NUM_WORKERS, "batch": batch, "image_shape": shape,
            "files": len(files), "images": images, "epochs": epochs, "seconds": seconds,
            "images_per_second": images / seconds}
