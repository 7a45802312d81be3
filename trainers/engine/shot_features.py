"""Few-shot sets encoded once per run, for the trainers that work on cached features.

LP++ trains full-batch on image features extracted once, and BBF scores
every candidate prompt on the whole shot set with a frozen image encoder:
both encode their images a single time, here, and never touch the data
loader again. BBF's release also keeps a held-out k-shot validation split,
drawn from the training pool apart from the training shots (never from the
test split): `held_out_shots` draws one from an ADU dataset.
"""
import random
from collections import defaultdict
from typing import NamedTuple

import torch
from dassl.data.data_manager import build_data_loader
from dassl.data.transforms import build_transform

from datasets.adu_base import as_datum, is_readable_image
from user_errors import DataError

from ..modules.metrics import harmonic_mean
from .test_images import RGBDatasetWrapper
from .training_step import autocast_context


class ShotFeatures(NamedTuple):
    """Image embeddings [N, D] (fp32) of a shot set with their class and
    domain labels [N] and forget-domain mask [N], all on one device."""
    features: torch.Tensor
    labels: torch.Tensor
    domains: torch.Tensor
    forget: torch.Tensor


@torch.no_grad()
def encode_shots(trainer, items, encode, augment: bool = False) -> ShotFeatures:
    """`encode(images)` over `items` (Dassl Datums) in one sequential pass.

    `augment`: one view of each image through the training transform (as
    LP++ extracts its features); otherwise the test-time transform.
    """
    cfg = trainer.cfg
    loader = build_data_loader(
        cfg, sampler_type="SequentialSampler", data_source=items,
        batch_size=cfg.DATALOADER.TEST.BATCH_SIZE, tfm=build_transform(cfg, is_train=augment),
        is_train=False, dataset_wrapper=RGBDatasetWrapper)
    features, labels, domains = [], [], []
    for batch in loader:
        with autocast_context(trainer.prec, trainer.device):
            features.append(encode(batch["img"].to(trainer.device)).float())
        labels.append(batch["label"])
        domains.append(batch["domain"])
    domains = torch.cat(domains).to(trainer.device)
    return ShotFeatures(torch.cat(features), torch.cat(labels).to(trainer.device), domains,
                        trainer.forget_mask(domains))


def unlearning_h(logits: torch.Tensor, shots: ShotFeatures) -> float:
    """H (%) of class logits [N, C] on a shot set: Mem from its memorize-domain
    shots, For = 100 - accuracy on its forget-domain shots."""
    correct = (logits.argmax(dim=-1) == shots.labels).float()
    mem = 100.0 * correct[~shots.forget].mean().item()
    forget = 100.0 - 100.0 * correct[shots.forget].mean().item()
    return harmonic_mean(mem, forget)


def held_out_shots(dataset, num_shots: int, seed: int):
    """Up to `num_shots` images per (class, domain) from the dataset's training
    pool that are not among its training shots, drawn with `seed`.

    A pair with fewer spare images gives what it has (noted once); a split
    that misses the memorize or the forget domains cannot measure H and
    fails with the fix.
    """
    taken = {datum.impath for datum in dataset.train_x}
    groups = defaultdict(list)
    for item in dataset.read_splits()["train"]:
        if item.impath not in taken:
            groups[(item.label, item.domain)].append(item)
    rng = random.Random(seed)
    chosen, short = [], 0
    for key in sorted(groups):
        candidates = sorted(groups[key], key=lambda it: it.impath)
        rng.shuffle(candidates)
        picked = []
        for item in candidates:
            if len(picked) == num_shots:
                break
            if is_readable_image(item.impath):
                picked.append(item)
        chosen += picked
        short += len(picked) < num_shots
    pairs = dataset.num_classes * len(dataset.domains)
    if short or len(groups) < pairs:
        print(f"Note: {short + pairs - len(groups)} of {pairs} (class, domain) pairs have "
              f"fewer than {num_shots} spare training images for the validation split")
    found = {it.domain for it in chosen}
    if not (found & set(dataset.forget_domain_ids)
            and found & set(dataset.memorize_domain_ids)):
        raise DataError(
            f"The training pool of {dataset.name} has no image beyond the training "
            "shots in the forget or the memorize domains, so no validation split can "
            "be held out: lower DATASET.NUM_SHOTS, or set the trainer's VAL_SHOTS 0 "
            "(no selection).")
    return [as_datum(it) for it in chosen]
