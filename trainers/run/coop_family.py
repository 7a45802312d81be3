"""The config nodes of the CoOp family's own train.py, so their trainer files run unchanged.

CoOp's train.py (KaiyangZhou/CoOp) adds TRAINER.COOP and TRAINER.COCOOP to
Dassl's config, and MaPLe's (muzairkhattak/multimodal-prompt-learning) adds
TRAINER.MAPLE, TRAINER.IVLP and TRAINER.VPT as well; their trainer files read
these nodes (`check_cfg` asserts on `PREC`) and their yamls set them. The
defaults below are those authors' defaults; the comments say what each key
means in their code. `add_coop_family_config` is called by `setup_cfg`
(trainers/run/resolve.py) right after the project's own keys.

It lives in trainers/run/ beside resolve.py, which builds train.py's config
tree: like it, it needs yacs only (no torch, no Dassl engine), so the
launcher's skip test resolves a CoOp-family command to the same config and
fingerprint as train.py. It is not in trainers/config.py because those keys
are the ones the project's trainers read; these belong to other codebases.
"""
from yacs.config import CfgNode as CN


def add_coop_config(cfg):
    node = cfg.TRAINER.COOP = CN()
    node.N_CTX = 16                      # learned context tokens
    node.CSC = False                     # one context per class instead of a shared one
    node.CTX_INIT = ""                   # words that start the context ("" = random)
    node.PREC = "fp16"                   # fp16, fp32 or amp
    node.CLASS_TOKEN_POSITION = "end"    # class name at the "end", "middle" or "front"


def add_cocoop_config(cfg):
    node = cfg.TRAINER.COCOOP = CN()
    node.N_CTX = 16                      # learned context tokens
    node.CTX_INIT = ""                   # words that start the context ("" = random)
    node.PREC = "fp16"                   # fp16, fp32 or amp


def add_maple_config(cfg):
    node = cfg.TRAINER.MAPLE = CN()
    node.N_CTX = 2                       # context tokens per prompted block
    node.CTX_INIT = "a photo of a"       # words that start the first block's text context
    node.PREC = "fp16"                   # fp16, fp32 or amp
    node.PROMPT_DEPTH = 9                # prompted blocks, at most 12; 1 = shallow MaPLe


def add_ivlp_config(cfg):
    # Independent vision-language prompting; depths 0 and 0 make it CoOp.
    node = cfg.TRAINER.IVLP = CN()
    node.N_CTX_VISION = 2                # context tokens of the image encoder
    node.N_CTX_TEXT = 2                  # context tokens of the text encoder
    node.CTX_INIT = "a photo of a"       # words that start the text context
    node.PREC = "fp16"                   # fp16, fp32 or amp
    node.PROMPT_DEPTH_VISION = 9         # prompted image blocks, at most 12
    node.PROMPT_DEPTH_TEXT = 9           # prompted text blocks, at most 12


def add_vpt_config(cfg):
    # Prompts on the vision side only.
    node = cfg.TRAINER.VPT = CN()
    node.N_CTX_VISION = 2                # context tokens of the image encoder
    node.CTX_INIT = "a photo of a"       # words of the (fixed) text prompt
    node.PREC = "fp16"                   # fp16, fp32 or amp
    node.PROMPT_DEPTH_VISION = 1         # prompted image blocks; 1 = shallow prompting


def add_coop_family_config(cfg):
    """Add the nodes of CoOp's and MaPLe's train.py (keys already set are kept)."""
    for node, add in (("COOP", add_coop_config), ("COCOOP", add_cocoop_config),
                      ("MAPLE", add_maple_config), ("IVLP", add_ivlp_config),
                      ("VPT", add_vpt_config)):
        if node not in cfg.TRAINER:
            add(cfg)
    if "SUBSAMPLE_CLASSES" not in cfg.DATASET:
        # Base-to-new generalisation in both codebases: "all", "base" or "new"
        # classes (read by their datasets, not by the ADU ones).
        cfg.DATASET.SUBSAMPLE_CLASSES = "all"


def coop_family_defaults() -> dict:
    """{"TRAINER.COOP.N_CTX": 16, ...}: every key above at its default. The
    fingerprint leaves them out at these values, so that the run folders
    recorded before the keys existed keep their fingerprint."""
    cfg = CN({"TRAINER": CN(), "DATASET": CN()})
    add_coop_family_config(cfg)
    flat = {}
    for top, node in cfg.items():
        for name, value in node.items():
            for key, leaf in (value.items() if isinstance(value, dict) else [(None, value)]):
                flat[".".join(p for p in (top, name, key) if p)] = leaf
    return flat
