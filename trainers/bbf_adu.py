"""BBF under the ADU protocol: black-box prompt search by CMA-ES.

Kuwana et al., "Black-Box Forgetting", NeurIPS 2024. CLIP is treated as a
black box: no gradient is ever computed, only losses of candidate prompts.
The prompt "[SOT] ctx_1 .. ctx_n classname . [EOT]" (n = N_CTX, 4) is
generated from a low-dimensional latent by Latent Context Sharing:

    ctx_i = A [s ; u_i] + p0

with s a latent shared by all context tokens (SHARED_LATENT_DIM, 20), u_i
the latent of token i alone (UNIQUE_LATENT_DIM, 5), A a fixed random matrix
(N(0, std^2) with std that of CLIP's token embeddings, drawn from
PROJECTION_SEED) and p0 the mean token embedding. CMA-ES (the `cma`
package) searches the whole latent z = [s, u_1..u_n]: every training batch
is one CMA-ES iteration, whose POPSIZE candidates are scored by
L_memorize + L_forget on that batch under torch.no_grad(). The model in use
(logged, evaluated, saved) is the mean of the search distribution.

Simplifications, on purpose: BBF runs one CMA-ES for s and one per u_i
and scores each candidate on the whole few-shot set; here one CMA-ES covers
z and a candidate is scored on a batch. Checkpoints hold the latent, the
step size and the projection seed; `--resume` restarts CMA-ES from that mean
and step size (the covariance is learned again), so a resumed BBF run is
close to, not identical with, an uninterrupted one.
"""
import cma
import numpy as np
import torch
import torch.nn as nn
from dassl.engine import TRAINER_REGISTRY

from user_errors import ConfigError

from .engine.base import batch_summary
from .engine.memorize_forget import MemorizeForgetTrainer
from .engine.precision import autocast_context, check_finite
from .modules.clip_utils import CosineLogits, frozen_image_features
from .modules.text_prompts import PromptTextFeatures


class LatentContext(nn.Module):
    """What BBF learns and saves: the latent z (a buffer: nothing here has a gradient)."""

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
        self.register_buffer("latent", torch.zeros(shared_dim + n_ctx * unique_dim))
        self.register_buffer("sigma", torch.tensor(float(sigma0)))
        self.register_buffer("projection_seed", torch.tensor(int(seed), dtype=torch.long))
        self.register_buffer("offset", token_embedding.mean(dim=0), persistent=False)
        self.embedding_std = token_embedding.std().item()
        self.register_buffer("projection", self.draw_projection(), persistent=False)
        self.register_load_state_dict_post_hook(LatentContext.redraw_projection)

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
        return self.latent.numel()

    def context(self, latent: torch.Tensor = None) -> torch.Tensor:
        """The context vectors [n_ctx, width] of `latent` (default: the current one)."""
        z = self.latent if latent is None else latent.to(self.latent)
        shared = z[:self.shared_dim].expand(self.n_ctx, -1)
        unique = z[self.shared_dim:].view(self.n_ctx, self.unique_dim)
        return torch.cat([shared, unique], dim=1) @ self.projection + self.offset


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

    def forward(self, images: torch.Tensor, latent: torch.Tensor = None) -> torch.Tensor:
        return self.logits(frozen_image_features(self.clip, images), self.text_features(latent))


@TRAINER_REGISTRY.register()
class BBFADU(MemorizeForgetTrainer):
    """Black-box forgetting: CMA-ES over a latent text context, no gradients."""

    config_key = "BBFADU"
    es = None
    stop_reported = False

    def check_cfg(self, cfg):
        super().check_cfg(cfg)
        if cfg.TRAINER.BBFADU.POPSIZE < 2:
            raise ConfigError(
                f"TRAINER.BBFADU.POPSIZE must be >= 2, got {cfg.TRAINER.BBFADU.POPSIZE}.")

    def build_model(self):
        node = self.method_cfg
        clip_model = self.load_frozen_clip()
        seed = node.PROJECTION_SEED if node.PROJECTION_SEED >= 0 else max(self.cfg.SEED, 0)
        self.model = BBFCLIP(clip_model, self.dm.dataset.classnames, node.N_CTX,
                             node.SHARED_LATENT_DIM, node.UNIQUE_LATENT_DIM, node.SIGMA0,
                             seed).to(self.device)
        print(f"Building BBF: CMA-ES over a {self.model.learner.dim}-d latent "
              f"({node.N_CTX} context tokens), population {node.POPSIZE}, "
              f"projection seed {seed}; no gradients")
        # No optimiser or schedule: CMA-ES moves the latent.
        self.register_model("learner", self.model.learner)

    def search_distribution(self) -> cma.CMAEvolutionStrategy:
        """CMA-ES, started (or, after --resume, restarted) at the saved latent."""
        if self.es is None:
            learner = self.model.learner
            self.es = cma.CMAEvolutionStrategy(
                learner.latent.cpu().double().numpy(), float(learner.sigma), {
                    "popsize": self.method_cfg.POPSIZE,
                    "seed": np.nan,  # draw from numpy's global RNG, seeded by Dassl
                    "maxiter": np.inf,
                    "verbose": -9, "verb_disp": 0, "verb_log": 0,
                })
        return self.es

    def get_current_lr(self, names=None):
        """Dassl logs the learning rate; for CMA-ES that is the step size."""
        return float(self.model.learner.sigma)

    @torch.no_grad()
    def forward_backward(self, batch):
        """One CMA-ES iteration in place of the gradient step of the other
        trainers: the same batch, losses and log, no backward."""
        images, labels, domains, forget_mask = self.training_batch(batch)
        model, learner = self.model, self.model.learner
        es = self.search_distribution()
        with autocast_context(self.prec, self.device):
            image_features = frozen_image_features(model.clip, images)
            if not es.stop():
                candidates = es.ask()
                fitness = []
                for z in candidates:
                    z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
                    logits = model.logits(image_features, model.text_features(z))
                    terms, _ = self.compute_losses(logits, labels, domains, forget_mask)
                    check_finite(terms, self.epoch, self.batch_idx, self.prec)
                    fitness.append(terms["total"].item())
                es.tell(candidates, fitness)
                learner.latent.copy_(torch.as_tensor(es.mean, dtype=torch.float32))
                learner.sigma.fill_(float(es.sigma))
            elif not self.stop_reported:
                print(f"CMA-ES has converged ({es.stop()}); the latent stays where it is")
                self.stop_reported = True
            logits = model.logits(image_features, model.text_features())
        terms, logits = self.compute_losses(logits, labels, domains, forget_mask)
        return batch_summary(terms, logits, labels, forget_mask)
