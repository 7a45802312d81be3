"""What a run folder's name adds to its config name when the command line
changes the backbone, the image size or the training domain labels, for the
experiment scripts (an open_clip backbone, "open_clip:ARCH:PRETRAINED", is
named by its architecture and weights: _openclip_ViT-B-16_laion2b_s34b_b88k).

    python -m experiments.launch.run_label configs/trainers/ADU/vit_b16_ep50.yaml \
        MODEL.BACKBONE.NAME /models/tiny_clip.pt INPUT.SIZE "(32, 32)"   ->  _tiny_clip_32px

A run folder is named <trainer>_<cfg>: the config file says the backbone and
the image size. Options after `--` that set MODEL.BACKBONE.NAME or
INPUT.SIZE to something else would leave that name wrong, so the folder gets
_<backbone> (the model's name or checkpoint file name) and _<size>px. A
checkpoint of the config's own backbone (`ViT-B-16.pt`, CLIP's file of
"ViT-B/16", for offline use) adds nothing. DATASET.DOMAIN_LABELS pseudo or
soft adds _pseudo or _soft, with the number of labelled images per domain
when DATASET.LABELLED_PER_DOMAIN is not 1 (_pseudo3l), and the temperature
of soft when DATASET.SOFT_TEMPERATURE is not 1 (_soft_t0.5): runs on
inferred domains never share a folder with the given-label runs. Prints the
suffix, or nothing.
"""
import os
import re
import sys

import yaml


def open_clip_label(name: str) -> str:
    """"open_clip:ViT-B-16:laion2b_s34b_b88k" -> "openclip_ViT-B-16_laion2b_s34b_b88k";
    a config JSON and a weights file by their file names, without the suffix."""
    arch, _, pretrained = name[len("open_clip:"):].partition(":")
    arch = re.sub(r"\.json$", "", os.path.basename(arch))
    pretrained = re.sub(r"\.(pt|pth|bin|safetensors)$", "", os.path.basename(pretrained))
    return f"openclip_{arch}_{pretrained}"


def backbone_label(name) -> str:
    """"ViT-B/16" and "/path/ViT-B-16.pt" -> "ViT-B-16" (CLIP saves "ViT-B/16" as
    ViT-B-16.pt): a checkpoint by its file name, a model name with '-' for '/';
    an open_clip backbone by its architecture and weights (open_clip_label)."""
    name = str(name)
    if name.startswith("open_clip:"):
        name = open_clip_label(name)
    elif name.endswith((".pt", ".pth")) or os.path.isfile(name):
        name = re.sub(r"\.(pt|pth)$", "", os.path.basename(name))
    return re.sub(r"[^A-Za-z0-9._-]", "_", name.replace("/", "-"))


def size_label(value) -> str:
    """"(32, 32)", [32, 32] -> "32px"; (32, 48) -> "32x48px"; "" when unreadable."""
    numbers = [int(n) for n in re.findall(r"\d+", str(value))]
    if not numbers:
        return ""
    return f"{numbers[0]}px" if len(set(numbers)) == 1 else "x".join(map(str, numbers)) + "px"


def domain_labels_label(given: dict, config: dict) -> str:
    """"pseudo", "pseudo3l", "soft_t0.5" ... for DATASET.DOMAIN_LABELS other than given."""
    def value(key, default):
        found = given.get(key, config_value(config, key))
        return str(default if found is None else found)
    mode = value("DATASET.DOMAIN_LABELS", "given")
    if mode == "given":
        return ""
    label = mode
    if float(value("DATASET.LABELLED_PER_DOMAIN", 1)) != 1:
        label += f"{int(float(value('DATASET.LABELLED_PER_DOMAIN', 1)))}l"
    if mode == "soft" and float(value("DATASET.SOFT_TEMPERATURE", 1.0)) != 1.0:
        label += f"_t{float(value('DATASET.SOFT_TEMPERATURE', 1.0)):g}"
    return re.sub(r"[^A-Za-z0-9._-]", "_", label)


def config_value(config: dict, key: str):
    node = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def suffix(config_path: str, opts) -> str:
    with open(config_path) as f:
        config = yaml.safe_load(f) or {}
    given = dict(zip(opts[::2], opts[1::2]))  # the last of a repeated key wins, as in yacs
    parts = []
    if "MODEL.BACKBONE.NAME" in given:
        label = backbone_label(given["MODEL.BACKBONE.NAME"])
        if label != backbone_label(config_value(config, "MODEL.BACKBONE.NAME") or ""):
            parts.append(label)
    if "INPUT.SIZE" in given:
        label = size_label(given["INPUT.SIZE"])
        if label and label != size_label(config_value(config, "INPUT.SIZE") or ""):
            parts.append(label)
    label = domain_labels_label(given, config)
    if label:
        parts.append(label)
    return "".join("_" + p for p in parts)


if __name__ == "__main__":
    print(suffix(sys.argv[1], sys.argv[2:]))
