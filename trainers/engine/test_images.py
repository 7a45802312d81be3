"""How the loaders read an image, and the test loader that reports an
unreadable image instead of dying on it.

Every loader of the project's trainers (training shots, test split, the
probes' and LP++'s shot passes) reads its images through `RGBDatasetWrapper`:
Dassl's DatasetWrapper with the image read by datasets.files.read_rgb, the
one conversion tools/predict.py uses too (a regular file only; every Pillow
mode as the 8-bit RGB a person sees; an RGB file exactly as Dassl's
`Image.open(path).convert("RGB")` read it).

A test image whose header reads but whose body does not decode (a
truncated JPEG) passed the start-up scan and ended the run in a loader
worker's traceback after all the training. Here the loader's dataset
returns a blank image marked with the problem instead, and the evaluation
(`UnreadableTally`) stops at the first one with one line naming the file,
or, with DATASET.SKIP_UNREADABLE True, drops it and counts it per domain.
"""
import torch
from dassl.data.data_manager import DatasetWrapper, build_data_loader
from dassl.data.transforms import build_transform
from PIL import Image

from datasets.files import read_rgb
from datasets.image_check import READ_ERRORS, short_problem, unreadable_error


class RGBDatasetWrapper(DatasetWrapper):
    """Dassl's item (label, domain, impath, index, img[, img2..., img0]) of
    the image read by `read_rgb`, through Dassl's own transform helpers."""

    def __getitem__(self, idx):
        item = self.data_source[idx]
        image = read_rgb(item.impath)
        out = {"label": item.label, "domain": item.domain, "impath": item.impath,
               "index": idx}
        if self.transform is None:
            out["img"] = image
        else:
            views = self.transform if isinstance(self.transform, (list, tuple)) \
                else [self.transform]
            for i, transform in enumerate(views):
                out["img" if i == 0 else f"img{i + 1}"] = self._transform_image(transform, image)
        if self.return_img0:
            out["img0"] = self.to_tensor(image)
        return out


class ReadSafeWrapper(RGBDatasetWrapper):
    """Dassl's DatasetWrapper; an image that does not read gives a blank one
    with `unreadable` set to the problem ("" for every readable image)."""

    def __getitem__(self, idx):
        try:
            return {**super().__getitem__(idx), "unreadable": ""}
        except READ_ERRORS as err:
            item = self.data_source[idx]
            blank = self._transform_image(self.transform, Image.new("RGB", (8, 8))) \
                if self.transform is not None else Image.new("RGB", (8, 8))
            return {"label": item.label, "domain": item.domain, "impath": item.impath,
                    "index": idx, "img": blank,
                    "unreadable": short_problem(err, item.impath)}


def test_loader(cfg, data_source):
    """The test split's loader, as Dassl builds it, with ReadSafeWrapper."""
    return build_data_loader(
        cfg, sampler_type=cfg.DATALOADER.TEST.SAMPLER, data_source=data_source,
        batch_size=cfg.DATALOADER.TEST.BATCH_SIZE, tfm=build_transform(cfg, is_train=False),
        is_train=False, dataset_wrapper=ReadSafeWrapper)


class UnreadableTally:
    """Counts the unreadable images of the batches it is shown, per domain."""

    def __init__(self, domains, skip: bool):
        self.domains, self.skip = list(domains), skip
        self.counts = {d: 0 for d in self.domains}

    def readable(self, batch) -> torch.Tensor:
        """The mask of the batch's readable rows; the first unreadable image
        stops the run unless skipping."""
        problems = batch.get("unreadable")
        if problems is None:
            return torch.ones(len(batch["label"]), dtype=torch.bool)
        for path, problem, domain in zip(batch["impath"], problems, batch["domain"].tolist()):
            if problem:
                if not self.skip:
                    raise unreadable_error(path, problem, "in the test split")
                print(f"Warning: skipping unreadable test image {path} ({problem})")
                self.counts[self.domains[domain]] += 1
        return torch.tensor([not p for p in problems], dtype=torch.bool)
