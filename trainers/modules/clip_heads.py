"""Encoding and scoring with a frozen CLIP: the parts every trainer shares.

Normalised features, CLIP's cosine logits, the class texts of a template and
their features, and the zero-shot classifier built from them, so that the
class texts and frozen images are encoded, and scored, the same way by
every trainer and tool.
"""
import torch
import torch.nn as nn

from user_errors import ConfigError

from .clip_loading import CLIP, clip


def normalize(features: torch.Tensor) -> torch.Tensor:
    """L2-normalised features in fp32, as CLIP's logits use them."""
    features = features.float()
    return features / features.norm(dim=-1, keepdim=True)


@torch.no_grad()
def frozen_image_features(model: CLIP, images: torch.Tensor) -> torch.Tensor:
    """L2-normalised embeddings of the stock (frozen) image encoder, in fp32.

    Without gradient: for the trainers that tune only the text side or a
    head on top, nothing upstream of these features is trained.
    """
    return normalize(model.encode_image(images))


class CosineLogits(nn.Module):
    """CLIP's class logits (Radford et al. 2021, Fig. 3):

        logits = exp(t) * normalize(image_emb) @ normalize(text_emb).T (+ b)

    with t CLIP's learned log temperature, frozen here (`scale` = exp(t), an
    fp32 buffer), and b the learned logit bias of a model that has one
    (SigLIP's `logit_bias`, frozen: the buffer `bias`; the same for every
    class, so a softmax over the classes does not see it, but the logits are
    the model's own). `forward` takes the normalised features [B, D] and [C, D].
    """

    def __init__(self, model: CLIP):
        super().__init__()
        self.register_buffer("scale", model.logit_scale.detach().exp().float())
        bias = getattr(model, "logit_bias", None)
        self.has_bias = bias is not None
        if self.has_bias:
            self.register_buffer("bias", bias.detach().float().clone())

    def forward(self, image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
        logits = self.scale * image_features @ text_features.t()
        return logits + self.bias if self.has_bias else logits


def tokenize_prompts(model: CLIP, texts):
    """Token ids [len(texts), context_length]: the model's own tokenizer when
    it carries one (open_clip's, open_clip_backbone.py), else OpenAI's."""
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None:
        return tokenizer(texts, context_length=model.context_length)
    try:
        return clip.tokenize(texts, context_length=model.context_length)
    except RuntimeError as err:
        raise ConfigError(
            f"A class prompt is longer than the text encoder's context "
            f"({model.context_length} tokens): {err}"
        ) from err


def class_texts(classnames, template: str):
    """The template filled with every class name."""
    if "{}" not in template:
        raise ConfigError(
            f"TEXT_TEMPLATE must contain '{{}}' for the class name, got "
            f"'{template}'."
        )
    return [template.format(name) for name in classnames]


@torch.no_grad()
def encode_class_texts(model: CLIP, classnames, template: str,
                       batch_size: int = 256) -> torch.Tensor:
    """L2-normalised text features [num_classes, embed_dim] in fp32.

    Computed once per run: the paper's text side is the fixed template
    through the frozen text encoder, so nothing here depends on training.
    """
    tokens = tokenize_prompts(model, class_texts(classnames, template))
    device = model.logit_scale.device
    return normalize(torch.cat([
        model.encode_text(tokens[i:i + batch_size].to(device))
        for i in range(0, len(tokens), batch_size)
    ]))


class ZeroshotClassifier(nn.Module):
    """Zero-shot CLIP: the frozen image encoder against the class texts of a
    fixed template ("a photo of a {}."), computed once.

    Plain PyTorch, so that the zero-shot trainer and the tools (the tiny
    CLIP's zero-shot table) score the same way.
    """

    def __init__(self, model: CLIP, classnames, template: str):
        super().__init__()
        self.clip = model
        self.register_buffer("text_features", encode_class_texts(model, classnames, template))
        self.logits = CosineLogits(model)

    @torch.no_grad()
    def logits_and_features(self, images: torch.Tensor):
        """(class logits [B, C], L2-normalised image embeddings [B, D]), both fp32."""
        image_features = frozen_image_features(self.clip, images)
        return self.logits(image_features, self.text_features), image_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits_and_features(images)[0]
