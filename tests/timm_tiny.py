"""Tiny open_clip models with timm image towers and random weights, for the
tests: shrunk copies of open_clip 3.3.0's ViT-B-16-SigLIP2, EVA02-B-16 and
PE-Core-B-16 configs (the same timm classes and options, 4 blocks of width
64 on 32 px images, 8 px patches), loaded by train.py as a user's own model:

- the timm model is a timm "local-dir:" folder (config.json: the shipped
  architecture with smaller `model_args`), which timm builds itself;
- the open_clip model config names it as `timm_model_name` and is
  registered by the backbone name "open_clip:PATH.json:WEIGHTS";
- the weights file is the model's open_clip state dict.

The shrunk SigLIP 2 keeps its text tower's options (last-token pooling, no
causal mask, projection bias, logit bias) but takes open_clip's built-in
SimpleTokenizer (vocabulary 49408) instead of the hub's Gemma tokenizer, so
that it builds offline; `hub_tokenizer_config` puts the hub tokenizer back,
for the tokenizer checks.
"""
import copy
import json
import os

import torch

SMALL = {"img_size": 32, "patch_size": 8, "embed_dim": 64, "depth": 4, "num_heads": 2}
TEXT = {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}

# name -> (timm architecture, its shrunk model_args, the open_clip config around it)
TOWERS = {
    "siglip2": ("vit_base_patch16_siglip_224", {}, {
        "embed_dim": 64, "init_logit_bias": -10, "custom_text": True,
        "vision_cfg": {"image_size": 32, "timm_pool": "map", "timm_proj": "none"},
        "text_cfg": dict(TEXT, no_causal_mask=True, proj_bias=True, pool_type="last",
                         norm_kwargs={"eps": 1e-6}, act_kwargs={"approximate": "tanh"})}),
    "eva02": ("eva02_base_patch16_clip_224", {"ref_feat_shape": [4, 4]}, {
        "embed_dim": 32, "custom_text": True,
        "vision_cfg": {"image_size": 32, "timm_pool": "token", "timm_proj": None},
        "text_cfg": dict(TEXT)}),
    "pe_core": ("vit_pe_core_base_patch16_224",
                {"ref_feat_shape": [4, 4], "attn_pool_num_heads": 2}, {
        "embed_dim": 32, "custom_text": True,
        "vision_cfg": {"image_size": 32, "timm_pool": "map", "timm_proj": None},
        "text_cfg": dict(TEXT)}),
}
# The architectures' names (the config files' stems): open_clip fetches
# SigLIP's tokenizer for any name with "siglip" in it, so the shrunk SigLIP 2
# is named for its pooling.
STEMS = {"siglip2": "adu-tiny-map-vit", "eva02": "adu-tiny-eva", "pe_core": "adu-tiny-pe"}
HUB_TOKENIZER = {"hf_tokenizer_name": "timm/ViT-B-16-SigLIP2",
                 "tokenizer_kwargs": {"clean": "canonicalize"}}


def write_config(directory, tower: str, config_patch=None) -> str:
    """The path of an open_clip model-config JSON for the shrunk `tower`
    ("siglip2", "eva02", "pe_core"), its timm folder beside it."""
    arch, model_args, config = TOWERS[tower]
    timm_dir = os.path.join(str(directory), f"timm-{tower}")
    os.makedirs(timm_dir, exist_ok=True)
    with open(os.path.join(timm_dir, "config.json"), "w") as f:
        json.dump({"architecture": arch, "model_args": dict(SMALL, **model_args),
                   "pretrained_cfg": {}}, f)
    config = copy.deepcopy(config)
    config["vision_cfg"]["timm_model_name"] = f"local-dir:{timm_dir}"
    for key, value in (config_patch or {}).items():
        config[key].update(value)
    path = os.path.join(str(directory), f"{STEMS[tower]}.json")
    with open(path, "w") as f:
        json.dump(config, f)
    return path


def hub_tokenizer_config(directory, tower="siglip2") -> str:
    """The shrunk config with its hub tokenizer (as the shipped SigLIP 2's)."""
    path = write_config(directory, tower, {"text_cfg": HUB_TOKENIZER})
    hub = path.replace(".json", "-hub.json")
    os.replace(path, hub)
    return hub


def tiny_model(directory, tower: str, seed=0, config_patch=None):
    """(config path, random-weights open_clip CLIP of the shrunk `tower`).
    timm starts a fresh classifier head at 1e-3 of its drawn weights (Eva's
    `head_init_scale`), which would make EVA-02's and PE-Core's embeddings
    ~1e-5 long; the head is drawn again at N(0, 0.02^2) like the rest, so that
    the tests compare embeddings of a usual size."""
    from trainers.modules.open_clip_backbone import random_open_clip
    path = write_config(directory, tower, config_patch)
    torch.manual_seed(seed)
    model = random_open_clip(path)
    head = model.visual.trunk.head
    if isinstance(head, torch.nn.Linear):
        torch.nn.init.normal_(head.weight, std=0.02)
    return path, model


def backbone(directory, tower: str, seed=0) -> str:
    """MODEL.BACKBONE.NAME of the shrunk `tower` saved as a local weights file."""
    from open_clip_tiny import save_weights
    config, model = tiny_model(directory, tower, seed)
    weights = save_weights(model, os.path.join(str(directory), f"{tower}.pt"))
    return f"open_clip:{config}:{weights}"
