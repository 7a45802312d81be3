"""Export time, file sizes and logit differences of ADU at a CLIP
architecture's shapes, with random weights (docs/DEPLOY.md's table):

    python -m experiments.export.measure --arch ViT-B/16 --classes 65 --out /tmp/export

The model is ADUCLIP with the paper's defaults (8 prompts in 9 blocks,
InstaPG at block 9, the domain classifier) around `build_clip(arch)`; the
sizes and times are those of a trained run of that backbone (weights do not
change them), the differences are measured on random images.
"""
import argparse
import json
import os
import os.path as osp
import time

import torch

from trainers.modules.adu_model import ADUCLIP
from trainers.modules.tiny_clip import ARCHITECTURES, build_clip

from .deployed import DeployedClassifier
from .exporter import save_onnx, save_pt2
from .parts import adu_parts
from .predictor import onnx_predictor

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def measure(arch: str, num_classes: int, num_domains: int, out: str, batch: int = 4) -> dict:
    torch.manual_seed(0)
    clip_model = build_clip(arch)
    size = clip_model.visual.input_resolution
    model = ADUCLIP(clip_model, [f"class {i}" for i in range(num_classes)], num_domains).eval()
    deployed = DeployedClassifier(adu_parts(model), CLIP_MEAN, CLIP_STD).eval()
    images = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(1))
    mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        project = model((images - mean) / std).logits
    os.makedirs(out, exist_ok=True)
    pt2, onnx = osp.join(out, "adu.pt2"), osp.join(out, "adu.onnx")
    record = {"arch": arch, "input": [3, size, size], "classes": num_classes,
              "threads": torch.get_num_threads()}
    for path, save in ((pt2, save_pt2), (onnx, save_onnx)):
        start = time.time()
        save(deployed, images[:2], path)
        record[f"{osp.splitext(path)[1][1:]}_seconds"] = round(time.time() - start, 1)
        record[f"{osp.splitext(path)[1][1:]}_mib"] = round(osp.getsize(path) / 2**20, 1)
    with torch.no_grad():
        program = torch.export.load(pt2).module()(images)[0]
    from_onnx = onnx_predictor(onnx, {}).logits(images)
    record["max_abs_logit_diff"] = {
        "pt2 vs project": (program - project).abs().max().item(),
        "onnx vs project": (from_onnx - project).abs().max().item(),
        "onnx vs pt2": (from_onnx - program).abs().max().item()}
    record["logit_range"] = [project.min().item(), project.max().item()]
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="ViT-B/16", choices=sorted(ARCHITECTURES))
    parser.add_argument("--classes", type=int, default=65, help="65: Office-Home")
    parser.add_argument("--domains", type=int, default=4)
    parser.add_argument("--out", required=True, help="folder for the two files")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.arch, args.classes, args.domains, args.out), indent=2))


if __name__ == "__main__":
    main()
