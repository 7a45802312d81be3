"""Config keys the project adds to Dassl's default config tree.

`train.py` calls `extend_cfg` before merging the dataset yaml, the method yaml
and the command-line opts, so every key below can be set in any of them.
Defaults follow ../shared/ADU-METHOD.md (sections 2-4).
"""
from yacs.config import CfgNode as CN


def add_dataset_config(cfg):
    # Domains whose images the model must stop recognising (names from the
    # dataset's domain list, e.g. ["art"]); every other domain is memorised.
    cfg.DATASET.FORGET_DOMAINS = []
    # Labelled shots per (class, domain) pair, drawn with the run seed.
    cfg.DATASET.NUM_SHOTS = 8


def add_adu_config(cfg):
    cfg.TRAINER.ADU = CN()
    # Learnable vision prompt tokens per prompted block.
    cfg.TRAINER.ADU.N_CTX_VISION = 8
    # Number of leading transformer blocks that get their own prompts
    # (0 disables deep vision prompting).
    cfg.TRAINER.ADU.PROMPT_DEPTH_VISION = 9
    # Precision of the frozen CLIP: fp16 (weights in half), fp32, or amp
    # (fp32 weights + autocast). On a CPU, fp16 and amp fall back to fp32.
    cfg.TRAINER.ADU.PREC = "fp16"
    # Fixed text template; class text features are computed once from it.
    cfg.TRAINER.ADU.TEXT_TEMPLATE = "a photo of a {}."
    # Instance-wise Prompt Generator on/off, and the 1-based blocks whose
    # prompts it generates (each must be a prompted block).
    cfg.TRAINER.ADU.INSTAPG = True
    cfg.TRAINER.ADU.INSTAPG_LAYERS = [9]
    # Domain Disentangling Loss on/off and its two terms.
    cfg.TRAINER.ADU.DDL = True
    cfg.TRAINER.ADU.DDL_CE = True
    cfg.TRAINER.ADU.DDL_MMD = True
    # L_domain = DDL_GAMMA * CE - DDL_LAMBDA * MMD^2.
    cfg.TRAINER.ADU.DDL_GAMMA = 30.0
    cfg.TRAINER.ADU.DDL_LAMBDA = 10.0
    # RBF bandwidth of the MMD kernel: "median" (median heuristic, no
    # gradient) or a positive number given as a string, e.g. "0.5".
    cfg.TRAINER.ADU.MMD_BANDWIDTH = "median"
    # Loss on forget-domain samples: "uniform_ce" (cross-entropy to the
    # uniform distribution) or "neg_entropy" (the released code's variant).
    cfg.TRAINER.ADU.FORGET_LOSS = "uniform_ce"


def add_results_config(cfg):
    # Name of this run's method in results.json and the results tables
    # (default: the trainer's name), e.g. "ADU-no-InstaPG" for an ablation.
    cfg.TEST.METHOD_TAG = ""
    # Fit the linear probes of trainers/probes.py (domain, forget-domain
    # classes) on the embeddings at test time, for trainers that expose them.
    cfg.TEST.LINEAR_PROBES = True


def extend_cfg(cfg):
    """Add every key the project's datasets and trainers read."""
    add_dataset_config(cfg)
    add_results_config(cfg)
    add_adu_config(cfg)
