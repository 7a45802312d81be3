"""The method as plain PyTorch modules on an unmodified OpenAI CLIP.

Prompts, InstaPG, the ADU model, learned text prompts, the losses, the
metrics and the linear probes. Nothing here imports Dassl (a test checks it):
the registered trainers in `trainers/` only wire these into Dassl.
"""
