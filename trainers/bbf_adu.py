"""BBF under the ADU protocol: black-box prompt search by CMA-ES.

Kuwana et al., "Black-Box Forgetting", NeurIPS 2024. CLIP is treated as a
black box: no gradient is ever computed, only losses of candidate prompts.
The prompt "[SOT] ctx_1 .. ctx_n classname . [EOT]" is generated from a
low-dimensional latent by Latent Context Sharing:

    ctx_i = A [s ; u_i] + p0

with s a latent shared by all context tokens, u_i the latent of token i
alone, A a fixed random matrix (N(0, std^2) with std that of CLIP's token
embeddings, drawn from PROJECTION_SEED) and p0 the mean token embedding.
As in the release (github.com/yusukekwn/Black-Box-Forgetting):

- sizes by class count (`release_settings`): 4 tokens, s of 20 and u_i of
  5 dimensions and 400 iterations up to 10 classes (its CIFAR-10 script);
  16 tokens, 400 + 100 dimensions otherwise, with 400 iterations below 100
  classes (ImageNet-30) and 800 from 100 on (CIFAR-100, CUB, ImageNet);
- one CMA-ES (the `cma` package, population 20, step size 1) searches s
  and one each u_i; all are told the fitness of the whole candidate;
- fitness: L_memorize + L_forget of a candidate over the whole few-shot
  training set without augmentation. The shots' frozen image features are
  computed once per run; per candidate only the class text features change;
- selection: every candidate is also scored on a validation split of
  VAL_SHOTS images per (class, domain) held out from the training pool
  (never the test split); the candidate with the best H there (the first
  one on ties) is the model that is evaluated and saved.

Under the ADU protocol the shots are NUM_SHOTS per (class, domain), the
loss is the shared L_memorize + L_forget (the release's two terms: CE on
the kept classes, CE to the uniform distribution on the forgotten ones),
and it is taken over the whole set at once where the release averages its
per-batch losses over batches of 160.

The ITERATIONS are spread evenly over Dassl's OPTIM.MAX_EPOCH epochs, which
only set the log, the checkpoints and --resume. Checkpoints hold the model
latent and its validation H, every CMA-ES mean and step size and the
projection seed; `--resume` restarts each CMA-ES from its mean and step
size (the covariance is learned again) and keeps selecting against the
saved best, so a resumed run is close to, not identical with, an
uninterrupted one.
"""
import math
import time
from typing import NamedTuple

import cma
import numpy as np
import torch
import torch.nn as nn
from dassl.engine import TRAINER_REGISTRY

from user_errors import ConfigError

from .engine.memorize_forget import MemorizeForgetTrainer
from .engine.training_step import autocast_context
from .engine.shot_features import ShotFeatures, encode_shots, held_out_shots, unlearning_h
from .modules.clip_heads import CosineLogits, frozen_image_features
from .modules.losses import forget_loss, memorize_forget_losses
from .modules.text_prompts import PromptTextFeatures


class BBFSettings(NamedTuple):
    n_ctx: int
    shared_dim: int
    unique_dim: int
    iterations: int


def release_settings(num_classes: int) -> BBFSettings:
    """What the BBF release's scripts use for a dataset of `num_classes`."""
    if num_classes <= 10:
        return BBFSettings(4, 20, 5, 400)
    return BBFSettings(16, 400, 100, 400 if num_classes < 100 else 800)


def resolve_settings(node, num_classes: int) -> BBFSettings:
    """The config's values, each -1 replaced by the release's."""
    given = (node.N_CTX, node.SHARED_LATENT_DIM, node.UNIQUE_LATENT_DIM, node.ITERATIONS)
    return BBFSettings(*(value if value >= 0 else default
                         for value, default in zip(given, release_settings(num_classes))))


class LatentContext(nn.Module):
    """What BBF learns and saves (buffers: nothing here has a gradient).

    `latent` is the model's latent (the best validated candidate, or the
    CMA-ES mean without validation) and `best_h` its validation H (-1
    before any); `mean` and `sigma` are the CMA-ES means (in the order of
    `blocks`) and step sizes, what --resume restarts the searches from.
    """

    def __init__(self, token_embedding: torch.Tensor, n_ctx: int = 4, shared_dim: int = 20,
                 unique_dim: int = 5, sigma0: float = 1.0, seed: int = 0):
        super().__init__()
        if n_ctx < 1 or shared_dim < 0 or unique_dim < 0 or shared_dim + unique_dim < 1:
            raise ConfigError(
                f"TRAINER.BBFADU: need N_CTX >= 1 and a latent of at least one "
                f"dimension, got N_CTX={n_ctx}, SHARED_LATENT_DIM={shared_dim}, "
                f"UNIQUE_LATENT_DIM={unique_dim}.")
        if sigma0 <= 0:
            raise ConfigError(f"TRAINER.BBFADU.SIGMA0 must be > 0, got {sigma0}.")
        self.n_ctx, self.shared_dim, self.unique_dim = n_ctx, shared_dim, unique_dim
        token_embedding = token_embedding.detach().float()
        dim = shared_dim + n_ctx * unique_dim
        self.register_buffer("latent", torch.zeros(dim))
        self.register_buffer("best_h", torch.tensor(-1.0))
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("sigma", torch.full((len(self.blocks()),), float(sigma0)))
        self.register_buffer("projection_seed", torch.tensor(int(seed), dtype=torch.long))
        self.register_buffer("offset", token_embedding.mean(dim=0), persistent=False)
        self.embedding_std = token_embedding.std().item()
        self.register_buffer("projection", self.draw_projection(), persistent=False)
        self.register_load_state_dict_post_hook(LatentContext.redraw_projection)

    def blocks(self):
        """Slices of the latent that each CMA-ES searches: s, then u_1 .. u_n."""
        shared = [slice(0, self.shared_dim)] if self.shared_dim else []
        starts = range(self.shared_dim, self.dim, self.unique_dim) if self.unique_dim else []
        return shared + [slice(start, start + self.unique_dim) for start in starts]

    def draw_projection(self) -> torch.Tensor:
        """A [shared_dim + unique_dim, width], fixed by `projection_seed`."""
        generator = torch.Generator().manual_seed(int(self.projection_seed))
        rows = self.shared_dim + self.unique_dim
        projection = torch.randn(rows, self.offset.shape[0], generator=generator)
        return (projection * self.embedding_std).to(self.offset.device)

    @staticmethod
    def redraw_projection(module, incompatible_keys):
        module.projection = module.draw_projection()

    @property
    def dim(self) -> int:
        return self.shared_dim + self.n_ctx * self.unique_dim

    def context(self, latent: torch.Tensor = None) -> torch.Tensor:
        """The context vectors [n_ctx, width] of `latent` (default: the model's)."""
        z = self.latent if latent is None else latent.to(self.latent)
        shared = z[:self.shared_dim].expand(self.n_ctx, -1)
        unique = z[self.shared_dim:].view(self.n_ctx, self.unique_dim)
        return torch.cat([shared, unique], dim=1) @ self.projection + self.offset


class LatentSearch:
    """The release's CMA-ES: one search per block of the latent, each told the
    fitness of the whole candidate; the best candidate by validation H is kept.

    `score(z) -> (fitness, validation H or None)`; without a validation
    split the model latent follows the CMA-ES mean.
    """

    def __init__(self, learner: LatentContext, popsize: int):
        self.learner = learner
        self.blocks = learner.blocks()
        options = {"popsize": popsize,
                   "seed": np.nan,  # draw from numpy's global RNG, seeded by Dassl
                   "maxiter": np.inf, "verbose": -9, "verb_disp": 0, "verb_log": 0}
        mean = learner.mean.cpu().double().numpy()
        self.searches = [cma.CMAEvolutionStrategy(mean[block], float(sigma), options)
                         for block, sigma in zip(self.blocks, learner.sigma.tolist())]

    def stop(self) -> dict:
        """The stop conditions any CMA-ES has met (empty while all search on)."""
        return {key: value for es in self.searches for key, value in es.stop().items()}

    def iterate(self, score):
        """One CMA-ES iteration; returns the fitness of every candidate."""
        learner = self.learner
        asked = [es.ask() for es in self.searches]
        candidates = [np.concatenate(parts) for parts in zip(*asked)]
        fitness = []
        for z in candidates:
            value, val_h = score(torch.as_tensor(z, dtype=torch.float32))
            fitness.append(value)
            if val_h is not None and val_h > learner.best_h.item():
                learner.latent.copy_(torch.as_tensor(z, dtype=torch.float32))
                learner.best_h.fill_(val_h)
        for es, parts in zip(self.searches, asked):
            es.tell(parts, fitness)
        learner.mean.copy_(torch.as_tensor(
            np.concatenate([es.mean for es in self.searches]), dtype=torch.float32))
        learner.sigma.copy_(torch.tensor([float(es.sigma) for es in self.searches]))
        if learner.best_h.item() < 0:  # no validation split: the mean is the model
            learner.latent.copy_(learner.mean)
        return fitness


class BBFCLIP(nn.Module):
    """Frozen CLIP queried with the prompts of a latent context."""

    def __init__(self, clip_model, classnames, n_ctx=4, shared_dim=20, unique_dim=5,
                 sigma0=1.0, seed=0):
        super().__init__()
        self.clip = clip_model
        self.learner = LatentContext(clip_model.token_embedding.weight, n_ctx, shared_dim,
                                     unique_dim, sigma0, seed)
        self.text = PromptTextFeatures(clip_model, classnames, n_ctx)
        self.logits = CosineLogits(clip_model)

    @torch.no_grad()
    def text_features(self, latent: torch.Tensor = None) -> torch.Tensor:
        return self.text(self.learner.context(latent))

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        return frozen_image_features(self.clip, images)

    def forward(self, images: torch.Tensor, latent: torch.Tensor = None) -> torch.Tensor:
        return self.logits(self.image_features(images), self.text_features(latent))


class CandidateScore:
    """Scores a latent: L_memorize + L_forget over every training shot, and H
    over the validation shots (None without them), from cached image features."""

    def __init__(self, model: BBFCLIP, train: ShotFeatures, validation: ShotFeatures = None,
                 forget=forget_loss):
        self.model, self.train, self.validation = model, train, validation
        self.forget = forget

    @torch.no_grad()
    def __call__(self, latent: torch.Tensor):
        text = self.model.text_features(latent)
        logits = self.model.logits(self.train.features, text)
        terms = memorize_forget_losses(logits=logits, labels=self.train.labels,
                                       forget_mask=self.train.forget, forget=self.forget)
        fitness = terms["total"].item()
        if not math.isfinite(fitness):
            raise FloatingPointError(f"BBF's fitness of a candidate is {fitness}; try PREC "
                                     "fp32 or amp.")
        val_h = None
        if self.validation is not None:
            val_h = unlearning_h(self.model.logits(self.validation.features, text),
                                 self.validation)
        return fitness, val_h


@TRAINER_REGISTRY.register()
class BBFADU(MemorizeForgetTrainer):
    """Black-box forgetting: CMA-ES over a latent text context, no gradients."""

    config_key = "BBFADU"
    search = None
    stop_reported = False

    def check_cfg(self, cfg):
        super().check_cfg(cfg)
        node = cfg.TRAINER.BBFADU
        if node.POPSIZE < 2:
            raise ConfigError(f"TRAINER.BBFADU.POPSIZE must be >= 2, got {node.POPSIZE}.")
        if node.ITERATIONS == 0:
            raise ConfigError("TRAINER.BBFADU.ITERATIONS is 0: use a positive number, or -1 "
                              "for the BBF release's value.")

    def build_model(self):
        node = self.method_cfg
        clip_model = self.load_frozen_clip()
        classnames = self.dm.dataset.classnames
        self.settings = resolve_settings(node, len(classnames))
        n_ctx, shared_dim, unique_dim, iterations = self.settings
        seed = node.PROJECTION_SEED if node.PROJECTION_SEED >= 0 else max(self.cfg.SEED, 0)
        self.model = BBFCLIP(clip_model, classnames, n_ctx, shared_dim, unique_dim,
                             node.SIGMA0, seed).to(self.device)
        print(f"Building BBF for {len(classnames)} classes: {n_ctx} context tokens, latent "
              f"{shared_dim} + {n_ctx} x {unique_dim} = {self.model.learner.dim}-d, "
              f"{iterations} CMA-ES iterations of population {node.POPSIZE} over "
              f"{self.max_epoch} epochs, projection seed {seed}; no gradients")
        # No optimiser or schedule: CMA-ES moves the latent.
        self.register_model("learner", self.model.learner)

    def get_current_lr(self, names=None):
        """Dassl logs the learning rate; for CMA-ES that is the (first) step size."""
        return float(self.model.learner.sigma[0])

    def epoch_iterations(self, epoch: int) -> range:
        """The CMA-ES iterations of Dassl epoch `epoch` (0-based)."""
        total = self.settings.iterations
        return range(epoch * total // self.max_epoch, (epoch + 1) * total // self.max_epoch)

    def before_train(self):
        """Resume (Dassl), encode the training and validation shots once, and
        start CMA-ES from the (saved) means and step sizes."""
        super().before_train()
        node, dataset, model = self.method_cfg, self.dm.dataset, self.model
        train = encode_shots(self, dataset.train_x, model.image_features)
        validation = None
        val_shots = node.VAL_SHOTS if node.VAL_SHOTS >= 0 else self.cfg.DATASET.NUM_SHOTS
        if val_shots > 0:
            items = held_out_shots(dataset, val_shots, max(self.cfg.SEED, 0))
            validation = encode_shots(self, items, model.image_features)
            print(f"BBF validation split: {len(items)} images held out from the training "
                  f"pool ({val_shots} per class and domain); the best candidate's H on it "
                  "picks the model")
        self.score = CandidateScore(model, train, validation, self.forget_term)
        self.search = LatentSearch(model.learner, node.POPSIZE)

    def run_epoch(self):
        """This epoch's share of the CMA-ES iterations, each scoring every
        candidate on the cached features."""
        self.set_model_mode("eval")
        iterations = self.epoch_iterations(self.epoch)
        start, fitness = time.time(), []
        for _ in iterations:
            stop = self.search.stop()
            if stop:
                if not self.stop_reported:
                    print(f"CMA-ES has converged ({stop}); the latent stays where it is")
                    self.stop_reported = True
                break
            with autocast_context(self.prec, self.device):
                fitness = self.search.iterate(self.score)
        learner = self.model.learner
        if fitness:
            eta = (time.time() - start) / len(iterations) * (
                self.settings.iterations - iterations.stop)
            val = f" val H {learner.best_h.item():.2f}" if learner.best_h >= 0 else ""
            print(f"epoch [{self.epoch + 1}/{self.max_epoch}] iteration "
                  f"[{iterations.stop}/{self.settings.iterations}] fitness {min(fitness):.4f} "
                  f"(mean {np.mean(fitness):.4f}){val} sigma {self.get_current_lr():.4f} "
                  f"eta {int(eta)}s")
            self.write_scalar("train/fitness", min(fitness), self.epoch)
            if learner.best_h >= 0:
                self.write_scalar("val/h", learner.best_h.item(), self.epoch)
