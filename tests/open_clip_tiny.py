"""Tiny open_clip CLIPs with random weights for the tests: a model-config
JSON in open_clip's own format (registered at run time by the backbone name
"open_clip:PATH.json:WEIGHTS") and a weights file saved as open_clip's state
dict, so that train.py loads it as a user's downloaded model.
"""
import json
import os

import torch

# 32 px like the toy data; 4 vision blocks of width 64 (open_clip gives a ViT
# width // 64 heads), a 2-block text tower: small, and prompt depth 3 fits.
TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 4, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1,
                 "layers": 2},
}


def write_config(directory, name="adu-tiny-vit", config=None) -> str:
    """The path of a model-config JSON file named `name` (its stem is the arch)."""
    path = os.path.join(str(directory), f"{name}.json")
    with open(path, "w") as f:
        json.dump(config or TINY_CONFIG, f)
    return path


def tiny_model(directory, seed=0, **overrides):
    """(config path, random-weights open_clip CLIP of TINY_CONFIG)."""
    from trainers.modules.open_clip_backbone import random_open_clip
    path = write_config(directory)
    torch.manual_seed(seed)
    return path, random_open_clip(path, **overrides)


def save_weights(model, path, safetensors=False) -> str:
    """`model`'s state dict as open_clip loads it (.pt or .safetensors)."""
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if safetensors:
        from safetensors.torch import save_file
        save_file(state, path)
    else:
        torch.save(state, path)
    return path
