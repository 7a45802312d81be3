"""attention.png of tools/analyze.py: the CLS token's attention over the
patches (last block and rollout) of a few test images per domain, zero-shot
CLIP beside the run."""
import torch

from experiments.analysis.figures import save_figure
from trainers.modules.attention_maps import cls_maps, record_blocks
from user_errors import ConfigError


def vision_transformer(model):
    from clip.model import VisionTransformer
    for module in model.modules():
        if isinstance(module, VisionTransformer):
            return module
    raise ConfigError("the run's model holds no CLIP ViT image encoder: attention maps "
                      "need one (MODEL.BACKBONE.NAME a ViT)")


def attention_maps(trainer, zero_shot, images) -> dict:
    """{"zero_shot"/"run": cls_maps(...)} of `images` [N, 3, H, W]."""
    images = images.to(trainer.device)
    result = {}
    for name, visual, forward in (
            ("zero_shot", zero_shot.model.clip.visual, zero_shot),
            ("run", vision_transformer(trainer.model), trainer.evaluation_outputs)):
        n_patches = (visual.input_resolution // visual.conv1.kernel_size[0]) ** 2
        with record_blocks(visual) as records:
            forward(images)
        result[name] = {k: v.cpu() for k, v in cls_maps(records, n_patches).items()}
    return result


def attention_figure(cfg, images, labels, maps, title, path):
    import matplotlib.pyplot as plt
    mean = torch.tensor(cfg.INPUT.PIXEL_MEAN).view(3, 1, 1)
    std = torch.tensor(cfg.INPUT.PIXEL_STD).view(3, 1, 1)
    cols = [("zero_shot", "last"), ("zero_shot", "rollout"), ("run", "last"), ("run", "rollout")]
    fig, axes = plt.subplots(len(images), 5, figsize=(10, 2.1 * len(images)), squeeze=False)
    for i, image in enumerate(images):
        axes[i, 0].imshow((image * std + mean).clamp(0, 1).permute(1, 2, 0).numpy())
        axes[i, 0].set_ylabel(labels[i], fontsize=8)
        for j, (model, kind) in enumerate(cols, start=1):
            patch = maps[model][kind][i]
            side = int(round(len(patch) ** 0.5))
            axes[i, j].imshow(patch.view(side, side).numpy(), cmap="inferno")
            share = maps[model][f"prompt_share_{kind}"][i].item()
            if share > 0:
                axes[i, j].set_xlabel(f"prompts hold {100 * share:.0f}%", fontsize=7)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    heads = ["image", "zero-shot: last block", "zero-shot: rollout", "run: last block",
             "run: rollout"]
    for j, head in enumerate(heads):
        axes[0, j].set_title(head, fontsize=9)
    fig.suptitle(f"CLS attention over the patches: {title}\n(patches only, each map "
                 "renormalised; the share of the CLS attention on prompt tokens is "
                 "written under a map)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def pick_images(dataset, per_domain: int):
    """The first `per_domain` test images of each domain, with distinct classes first."""
    picked = []
    for d in range(len(dataset.domains)):
        items = [it for it in dataset.test if it.domain == d]
        items.sort(key=lambda it: (it.label, it.impath))
        by_class = {}
        for it in items:
            by_class.setdefault(it.label, it)
        picked += (list(by_class.values()) + items)[:per_domain]
    return picked
