"""What every trainer of the project shares, on top of Dassl's TrainerX.

- it refuses datasets without forget/memorize domains,
- `training_batch` unpacks a Dassl batch into a `Batch` (its forget-domain
  samples marked), once per step,
- `forward_backward` is one training step (training_step.py) on that batch and
  the losses a trainer defines in `compute_losses(outputs, batch)`, and
  `run_epoch` is Dassl's loop with the log kept on the device (loss_log.py:
  one host sync per TRAIN.PRINT_FREQ steps) and one progress line per epoch,
- `test` scores each test domain and writes results.json (evaluation.py),
- checkpoints carry the RNG states, so `--resume` reproduces an
  uninterrupted run, and loading says where it looked (run/checkpoint.py).
"""
import time
from typing import NamedTuple

import torch
from dassl.data.transforms import build_transform
from dassl.engine import TrainerX
from dassl.optim import build_optimizer
from dassl.utils import AverageMeter

from user_errors import ConfigError, DownloadError

from ..config_checks import check_image_side
from ..modules.clip_loading import backbone_in_repo, freeze, load_clip, require_vit
from ..modules.open_clip_backbone import is_open_clip_name
from ..modules.timm_towers import timm_trunk
from ..run.checkpoint import load_models, resume_models, save_models
from ..run.files import repo_path
from .domain_labels import check_domain_labels
from .evaluation import domain_test, is_adu_dataset
from .loss_log import LossLog, format_values, shown
from .lr_scheduler import build_lr_scheduler
from .precision import cast_clip, make_grad_scaler, resolve_precision
from .progress import clock, epoch_line
from .shot_loader import build_train_loader
from .training_step import Batch, training_step


class StepResult(NamedTuple):
    """What a training step hands the log: its loss terms and class logits
    (device tensors, never read on the host here) and its `Batch`."""
    terms: dict
    logits: torch.Tensor
    batch: Batch


class UnlearningTrainer(TrainerX):
    """Base of the project's trainers (not registered itself)."""

    prec = "fp32"
    scaler = None
    # The trainer's config node under cfg.TRAINER (it holds at least PREC).
    config_key = ""
    # Whether build_model infers pseudo domains (DATASET.DOMAIN_LABELS, domain_labels.py).
    supports_pseudo_domains = False
    # What results.json records of the pseudo domain labels (None: the given ones).
    pseudo_domain_record = None
    # Soft domain-CE targets of every training item, by loader index
    # (DATASET.DOMAIN_LABELS soft, domain_labels.py; None otherwise).
    soft_domain_targets = None

    @property
    def method_cfg(self):
        return self.cfg.TRAINER[self.config_key]

    # Why this trainer cannot run on an open_clip timm-tower model (SigLIP,
    # EVA-02, PE-Core: open_clip's separate text tower, read here only through
    # encode_text), or None when it can; asked by train.py before any data.
    @classmethod
    def timm_tower_refusal(cls, cfg):
        return "it learns prompts inside CLIP's text transformer"

    def load_frozen_clip(self, needs_vit: bool = False):
        """The backbone on this trainer's device, in its PREC, with every weight frozen."""
        name = self.cfg.MODEL.BACKBONE.NAME
        print(f"Loading CLIP ({name})")
        tokenizer = self.cfg.MODEL.BACKBONE.TOKENIZER
        try:
            clip_model = load_clip(backbone_in_repo(name, repo_path),
                                   tokenizer=repo_path(tokenizer) if tokenizer else "")
        except DownloadError as err:
            if self.cfg.DATASET.NAME != "toy_domains" or is_open_clip_name(name):
                raise
            raise DownloadError(f"{err} (toy_domains needs no download: its config "
                                f"toy_tiny, configs/trainers/{self.cfg.TRAINER.NAME}/"
                                "toy_tiny.yaml, runs the shipped tiny CLIP)") from None
        if needs_vit:
            require_vit(clip_model, name, self.cfg.TRAINER.NAME)
        side = getattr(clip_model.visual, "input_resolution", None)
        if isinstance(side, int):  # before any step: another side fails inside the model
            check_image_side(self.cfg.INPUT.SIZE, side, f"CLIP {name}")
        self.prec = resolve_precision(self.method_cfg.PREC, self.device)
        if self.prec == "fp16" and timm_trunk(clip_model.visual) is not None:
            print("Note: PREC=fp16 on a timm image tower runs as amp (fp32 weights + "
                  "autocast): open_clip's fp16 cast leaves timm's own parameters in fp32.")
            self.prec = "amp"
        cast_clip(clip_model.to(self.device), self.prec)
        return freeze(clip_model)

    def register_learner(self, learner: torch.nn.Module, empty_hint: str = ""):
        """Optimise and save `learner` (the trainable parameters only), with
        our schedule (Dassl's warm-up crashes on current torch)."""
        n_params = sum(p.numel() for p in learner.parameters() if p.requires_grad)
        if n_params == 0:
            raise ConfigError(f"{self.cfg.TRAINER.NAME} has no trainable parameter.{empty_hint}")
        print(f"Trainable parameters: {n_params:,}")
        self.optim = build_optimizer(learner, self.cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, self.cfg.OPTIM)
        self.register_model("learner", learner, self.optim, self.sched)
        self.scaler = make_grad_scaler(self.prec, self.device)

    def build_data_loader(self):
        check_domain_labels(self.cfg, self.supports_pseudo_domains)
        super().build_data_loader()
        dataset = self.dm.dataset
        if not is_adu_dataset(dataset):
            raise ConfigError(
                f"Trainer {self.cfg.TRAINER.NAME} needs an ADU dataset (with "
                f"forget/memorize domains); '{self.cfg.DATASET.NAME}' is a plain "
                "Dassl dataset. Use one of the project's datasets (office_home, "
                "mini_domainnet, domainnet, imagenet, pacs, toy_domains)."
            )
        self.forget_ids = torch.tensor(dataset.forget_domain_ids, device=self.device)
        # Dassl's loader again, images read as the test split and predict.py read them
        self.train_loader_x = build_train_loader(self.cfg, dataset.train_x,
                                                 build_transform(self.cfg, is_train=True))

    def forget_mask(self, domains: torch.Tensor) -> torch.Tensor:
        return torch.isin(domains, self.forget_ids)

    def training_batch(self, batch) -> Batch:
        """The `Batch` of a Dassl training batch, on the device: its
        forget-domain samples marked, and its items' soft domain targets
        when there are any."""
        images, labels, domains = self.parse_batch_train(batch)
        targets = None
        if self.soft_domain_targets is not None:
            targets = self.soft_domain_targets[batch["index"].to(self.device)]
        return Batch(images, labels, domains, self.forget_mask(domains), targets)

    def compute_losses(self, outputs, batch: Batch):
        """(loss terms with their sum "total", class logits) of `self.model`'s
        outputs on `batch`: the one thing a gradient-trained trainer defines."""
        raise NotImplementedError(f"{type(self).__name__} defines no compute_losses")

    def forward_backward(self, batch) -> StepResult:
        """One training step on the trainer's losses, every registered optimiser
        stepped; the learning rate moves at the end of an epoch."""
        batch = self.training_batch(batch)
        terms, logits = training_step(self.model, batch, self.compute_losses,
                                      list(self._optims.values()), self.scaler, self.prec,
                                      self.device)
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return StepResult(terms, logits, batch)

    def run_epoch(self):
        """Dassl's TrainerX.run_epoch, its log read from the device every
        TRAIN.PRINT_FREQ steps and at the epoch's end (where a non-finite loss
        stops the run), then the epoch's progress line."""
        self.set_model_mode("train")
        log = LossLog(self.epoch, self.prec)
        batch_time, data_time = AverageMeter(), AverageMeter()
        self.num_batches = len(self.train_loader_x)
        end = time.time()
        for self.batch_idx, batch in enumerate(self.train_loader_x):
            data_time.update(time.time() - end)
            log.add(*self.forward_backward(batch), self.batch_idx)
            batch_time.update(time.time() - end)
            last = self.batch_idx + 1 == self.num_batches
            if (self.batch_idx + 1) % self.cfg.TRAIN.PRINT_FREQ == 0 or last:
                values = log.read()  # the one host sync of the interval
                self.print_batch_line(values, batch_time, data_time)
            end = time.time()
        elapsed, eta = self.elapsed_and_eta()
        print(epoch_line(self.epoch, self.max_epoch,
                         {name: mean for name, (_, mean) in shown(values, self.loss_names())
                          .items()}, elapsed, eta),
              flush=True)

    def loss_names(self) -> dict:
        """{logged name: the name the log lines print} (tensorboard keeps the
        logged one): a term that is a weighted sum of others names its parts."""
        return {}

    def elapsed_and_eta(self):
        """Seconds since training started, and the rest at its pace so far
        (read after a sync, so a GPU's queue is behind the clock)."""
        elapsed = time.time() - getattr(self, "time_start", time.time())
        done = (self.epoch - self.start_epoch) * self.num_batches + self.batch_idx + 1
        remaining = (self.max_epoch - self.epoch) * self.num_batches - self.batch_idx - 1
        return elapsed, elapsed / max(done, 1) * remaining

    def print_batch_line(self, values: dict, batch_time, data_time):
        """Dassl's training-log line, and the values to tensorboard."""
        _, eta = self.elapsed_and_eta()
        print(f"epoch [{self.epoch + 1}/{self.max_epoch}] "
              f"batch [{self.batch_idx + 1}/{self.num_batches}] "
              f"time {batch_time.val:.3f} ({batch_time.avg:.3f}) "
              f"data {data_time.val:.3f} ({data_time.avg:.3f}) "
              f"{format_values(shown(values, self.loss_names()))} "
              f"lr {self.get_current_lr():.4e} eta {clock(eta)}")
        n_iter = self.epoch * self.num_batches + self.batch_idx
        for name, (_, mean) in values.items():
            self.write_scalar("train/" + name, mean, n_iter)
        self.write_scalar("train/lr", self.get_current_lr(), n_iter)

    def model_inference(self, images):
        """The class logits of `evaluation_outputs`, which every trainer of
        the project defines (Dassl calls this; domain_test uses the dict)."""
        return self.evaluation_outputs(images)["logits"]

    def test(self, split=None):
        return domain_test(self, split)

    def load_model(self, directory, epoch=None):
        load_models(self, directory, epoch)

    def save_model(self, epoch, directory, is_best=False, val_result=None, model_name=""):
        save_models(self, epoch, directory, is_best, val_result, model_name)

    def resume_model_if_exist(self, directory):
        return resume_models(self, directory)
