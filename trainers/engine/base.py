"""What every trainer of the project shares, on top of Dassl's TrainerX.

- it refuses datasets without forget/memorize domains,
- `training_batch` unpacks a Dassl batch into a `Batch` (its forget-domain
  samples marked), once per step,
- `forward_backward` is one training step (training_step.py) on that batch and
  the losses a trainer defines in `compute_losses(outputs, batch)`, and
  `batch_summary` is what the training log shows for it,
- `test` scores each test domain and writes results.json (evaluation.py),
- checkpoints carry the RNG states, so `--resume` reproduces an
  uninterrupted run, and loading says where it looked (run/checkpoint.py).
"""
import torch
from dassl.engine import TrainerX
from dassl.optim import build_optimizer

from user_errors import ConfigError

from ..modules.clip_loading import backbone_in_repo, freeze, load_clip, require_vit
from ..run.checkpoint import load_models, resume_models, save_models
from ..run.files import repo_path
from .domain_labels import check_domain_labels
from .evaluation import domain_test, is_adu_dataset
from .lr_scheduler import build_lr_scheduler
from .precision import cast_clip, make_grad_scaler, resolve_precision
from .training_step import Batch, training_step


def batch_summary(terms: dict, logits, batch: Batch) -> dict:
    """Every loss term, and the batch accuracy on memorize and forget samples."""
    summary = {f"loss_{k}": v.item() for k, v in terms.items()}
    correct = logits.argmax(dim=-1) == batch.labels
    forget_mask = batch.forget_mask
    if (~forget_mask).any():
        summary["acc_mem"] = 100.0 * correct[~forget_mask].float().mean().item()
    if forget_mask.any():
        summary["acc_forget"] = 100.0 * correct[forget_mask].float().mean().item()
    return summary


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

    @property
    def method_cfg(self):
        return self.cfg.TRAINER[self.config_key]

    def load_frozen_clip(self, needs_vit: bool = False):
        """The backbone on this trainer's device, in its PREC, with every weight frozen."""
        name = self.cfg.MODEL.BACKBONE.NAME
        print(f"Loading CLIP ({name})")
        clip_model = load_clip(backbone_in_repo(name, repo_path))
        if needs_vit:
            require_vit(clip_model, name, self.cfg.TRAINER.NAME)
        self.prec = resolve_precision(self.method_cfg.PREC, self.device)
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

    def forget_mask(self, domains: torch.Tensor) -> torch.Tensor:
        return torch.isin(domains, self.forget_ids)

    def training_batch(self, batch) -> Batch:
        """The `Batch` of a Dassl training batch, on the device."""
        images, labels, domains = self.parse_batch_train(batch)
        return Batch(images, labels, domains, self.forget_mask(domains))

    def compute_losses(self, outputs, batch: Batch):
        """(loss terms with their sum "total", class logits) of `self.model`'s
        outputs on `batch`: the one thing a gradient-trained trainer defines."""
        raise NotImplementedError(f"{type(self).__name__} defines no compute_losses")

    def forward_backward(self, batch):
        """One training step on the trainer's losses, every registered optimiser
        stepped; the learning rate moves at the end of an epoch."""
        batch = self.training_batch(batch)
        terms, logits = training_step(
            self.model, batch, self.compute_losses,
            [self._optims[name] for name in self.get_model_names()], self.scaler,
            self.prec, self.device, self.epoch, self.batch_idx)
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return batch_summary(terms, logits, batch)

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
