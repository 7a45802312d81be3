"""Zero-shot CLIP: the "before unlearning" row of the comparison.

Radford et al., "Learning Transferable Visual Models From Natural Language
Supervision", ICML 2021. Nothing is trained: the class text features of a
fixed template ("a photo of a {}.") are computed once, and `train()` only
scores the test split per domain, so `train.py --trainer ZeroshotCLIP`
needs neither `--eval-only` nor a checkpoint. The classifier itself is
`ZeroshotClassifier` (modules/clip_heads.py), which the tiny CLIP's
pretraining tool scores with too.
"""
from dassl.engine import TRAINER_REGISTRY

from .engine.memorize_forget import MemorizeForgetTrainer
from .modules.clip_heads import ZeroshotClassifier


@TRAINER_REGISTRY.register()
class ZeroshotCLIP(MemorizeForgetTrainer):
    """CLIP with a hand-written prompt; evaluation only."""

    config_key = "ZEROSHOTCLIP"
    # train.py's value checks: OPTIM.MAX_EPOCH may be 0 (nothing is trained).
    trains_weights = False

    @classmethod
    def timm_tower_refusal(cls, cfg):
        return None  # the frozen towers through encode_image / encode_text

    def build_model(self):
        clip_model = self.load_frozen_clip()
        template = self.method_cfg.TEXT_TEMPLATE
        print(f"Zero-shot classifier from the template '{template}'")
        self.model = ZeroshotClassifier(clip_model, self.dm.dataset.classnames,
                                        template).to(self.device)

    def train(self):
        print("Zero-shot CLIP has nothing to train: scoring the test split")
        self.loaded_epoch = 0  # the weights evaluated were trained for 0 epochs
        self.test()
