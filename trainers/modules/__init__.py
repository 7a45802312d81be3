"""The method as plain PyTorch modules on an unmodified OpenAI or open_clip CLIP.

Loading CLIP (`clip_loading.py`; open_clip backbones `open_clip_backbone.py`,
the blocks' layout `clip_layout.py`), small CLIPs for the tests and the toy
benchmark (`tiny_clip.py`), features, logits and the zero-shot classifier
(`clip_heads.py`), prompts, InstaPG, the ADU model, learned text prompts,
the losses, the metrics, the linear probes, attention maps and pseudo
domains. Nothing here imports Dassl, trainers.engine, trainers.run or a
trainer (a test checks it), so the registered trainers in `trainers/`, the
engine, the tools and experiments/ may all import it; they only wire it in.
"""
