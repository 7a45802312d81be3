"""LP++ under the ADU protocol: a linear probe blended with the text classifier.

Huang et al., "LP++: A Surprisingly Strong Linear Probe for Few-Shot CLIP",
CVPR 2024. On the frozen, L2-normalised image embedding f, class k scores

    logit_k(f) = f . w_k + b_k + alpha_k * f . t_k

with t_k the frozen zero-shot text embedding of "a photo of a {class}.",
(w_k, b_k) a linear layer and alpha_k a per-class blending ratio; the
logits carry no temperature. As in the release
(github.com/FereshteShakeri/FewShot-CLIP-Strong-Baseline, linear_probe_p2):

- the image features of the shots are extracted once, one view per shot
  through the training transform, and training is full-batch on them, one
  step per epoch (OPTIM.MAX_EPOCH, 300 in the release);
- w_k starts at the sum of class k's shot features (the release's
  centroids: its division by the count is commented out), b_k at
  nn.Linear's default, and every alpha_k at the data-driven value
  250 * mean_k (mean over class k's shots of f . t_k);
- the step sizes are closed-form, from the data (`weight_step_size`,
  `alpha_step_size`): SGD with momentum 0.9 and no weight decay moves
  (w, b) every epoch, alpha takes a plain step every ALPHA_EVERY (10)
  epochs. The release never clears alpha's gradient, so each alpha step
  follows the sum of its gradients since the start; kept, in a buffer so
  that checkpoints and --resume hold it.

Under the ADU protocol the objective is L_memorize + L_forget instead of
the cross-entropy, the shots are ADU's (NUM_SHOTS per class and domain),
and the last epoch is evaluated: the release reports the test accuracy at
the epoch of best accuracy on a few-shot validation split.
"""
import torch
import torch.nn as nn
from dassl.engine import TRAINER_REGISTRY

from user_errors import ConfigError

from .engine.memorize_forget import MemorizeForgetTrainer
from .engine.shot_features import encode_shots
from .engine.training_step import Batch
from .modules.clip_heads import encode_class_texts, frozen_image_features

# The release's scale of the initial blending ratio (calculate_init_alpha).
ALPHA_INIT_SCALE = 250.0


def class_sums(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Sum of each class's features [C, D], LP++'s initial visual prototypes."""
    sums = torch.zeros(num_classes, features.shape[1], dtype=features.dtype,
                       device=features.device)
    return sums.index_add_(0, labels, features)


def initial_alpha(features, labels, text_features) -> float:
    """250 * the class-averaged mean text similarity of a class's own shots."""
    num_classes = text_features.shape[0]
    own = (features * text_features[labels]).sum(dim=-1)
    counts = torch.bincount(labels, minlength=num_classes).clamp(min=1)
    per_class = torch.zeros(num_classes, dtype=own.dtype, device=own.device)
    per_class.index_add_(0, labels, own)
    return ALPHA_INIT_SCALE * (per_class / counts).mean().item()


def weight_step_size(features: torch.Tensor) -> float:
    """4 N / lambda_max(F^T F): the release's step size of (w, b) for N features F."""
    gram = features.double().t() @ features.double()
    return 4.0 * features.shape[0] / torch.linalg.eigvalsh(gram).max().item()


def alpha_step_size(features: torch.Tensor, text_features: torch.Tensor) -> float:
    """N / (4 max_k sum_i (f_i . t_k)^2): the release's step size of alpha."""
    similarity = features.double() @ text_features.double().t()
    return features.shape[0] / (4.0 * similarity.pow(2).sum(dim=0).max().item())


class BlendedLinearProbe(nn.Module):
    """The trainable part of LP++: a linear layer [C, D] + [C] and the ratios [C]."""

    def __init__(self, text_features: torch.Tensor):
        super().__init__()
        num_classes, dim = text_features.shape
        self.linear = nn.Linear(dim, num_classes)
        self.alpha = nn.Parameter(torch.ones(num_classes))
        # alpha's gradient summed over every epoch so far (see the module docstring).
        self.register_buffer("alpha_grad", torch.zeros(num_classes))
        self.register_buffer("text_features", text_features.clone(), persistent=False)

    @torch.no_grad()
    def initialise(self, features: torch.Tensor, labels: torch.Tensor):
        """LP++'s data-driven start from the shot features [N, D] and labels [N]."""
        self.linear.weight.copy_(class_sums(features, labels, self.alpha.numel()))
        self.alpha.fill_(initial_alpha(features, labels, self.text_features))

    def forward(self, image_features: torch.Tensor) -> torch.Tensor:
        return (self.linear(image_features)
                + self.alpha * (image_features @ self.text_features.t()))


class LPPlusPlusCLIP(nn.Module):
    """Frozen CLIP image encoder + the blended linear probe."""

    def __init__(self, clip_model, classnames, template: str = "a photo of a {}."):
        super().__init__()
        self.clip = clip_model
        self.learner = BlendedLinearProbe(encode_class_texts(clip_model, classnames, template))

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        return frozen_image_features(self.clip, images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.learner(self.image_features(images))


@TRAINER_REGISTRY.register()
class LPPlusPlusADU(MemorizeForgetTrainer):
    """LP++'s blended linear probe, trained full-batch to memorise and forget domains."""

    config_key = "LPPLUSPLUSADU"

    @classmethod
    def timm_tower_refusal(cls, cfg):
        return None  # frozen image features and the template's text features
    shots = None

    def check_cfg(self, cfg):
        super().check_cfg(cfg)
        if cfg.TRAINER.LPPLUSPLUSADU.ALPHA_EVERY < 1:
            raise ConfigError(f"TRAINER.LPPLUSPLUSADU.ALPHA_EVERY must be >= 1, got "
                              f"{cfg.TRAINER.LPPLUSPLUSADU.ALPHA_EVERY}.")

    def build_model(self):
        node = self.method_cfg
        clip_model = self.load_frozen_clip()
        print(f"Building LP++ (text template '{node.TEXT_TEMPLATE}'; full-batch on features "
              f"extracted once, closed-form step sizes, alpha every {node.ALPHA_EVERY} epochs)")
        self.model = LPPlusPlusCLIP(clip_model, self.dm.dataset.classnames,
                                    node.TEXT_TEMPLATE).to(self.device)
        # The step size follows from the features (set in before_train); no weight decay.
        self.optim = torch.optim.SGD(self.model.learner.linear.parameters(), lr=1.0,
                                     momentum=0.9, weight_decay=0.0)
        self.register_model("learner", self.model.learner, self.optim, None)

    def before_train(self):
        """Extract the features and start LP++ before Dassl's before_train
        resumes: the augmented views then come from the same random state in
        a fresh and in a resumed run, and a checkpoint overwrites the start."""
        print("LP++: extracting the shot features once (one augmented view per shot)")
        self.shots = encode_shots(self, self.dm.dataset.train_x, self.model.image_features,
                                  augment=True)
        learner = self.model.learner
        learner.initialise(self.shots.features, self.shots.labels)
        lr_w = weight_step_size(self.shots.features)
        self.lr_alpha = alpha_step_size(self.shots.features, learner.text_features)
        for group in self.optim.param_groups:
            group["lr"] = lr_w
        print(f"LP++: {len(self.shots.labels)} shots, initial alpha "
              f"{learner.alpha[0].item():.4f}, step sizes w {lr_w:.4g}, alpha {self.lr_alpha:.4g}")
        super().before_train()

    def run_epoch(self):
        """One full-batch step of (w, b), and of alpha every ALPHA_EVERY epochs."""
        self.set_model_mode("train")
        learner, shots = self.model.learner, self.shots
        logits = learner(shots.features)
        terms, _ = self.compute_losses(
            logits, Batch(shots.features, shots.labels, shots.domains, shots.forget))
        self.optim.zero_grad()
        learner.alpha.grad = None
        terms["total"].backward()
        self.optim.step()
        with torch.no_grad():
            learner.alpha_grad += learner.alpha.grad
            if (self.epoch + 1) % self.method_cfg.ALPHA_EVERY == 0:
                learner.alpha -= self.lr_alpha * learner.alpha_grad
        if (self.epoch + 1) % self.cfg.TRAIN.PRINT_FREQ == 0 or self.epoch + 1 == self.max_epoch:
            accuracy = 100.0 * (logits.argmax(-1) == shots.labels).float()
            print(f"epoch [{self.epoch + 1}/{self.max_epoch}] "
                  + " ".join(f"loss_{k} {v.item():.4f}" for k, v in terms.items())
                  + f" acc_mem {accuracy[~shots.forget].mean().item():.2f}"
                  + f" acc_forget {accuracy[shots.forget].mean().item():.2f}")
        for name, value in terms.items():
            self.write_scalar(f"train/loss_{name}", value.item(), self.epoch)
