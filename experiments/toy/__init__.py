"""The toy benchmark's tiny CLIP: its contrastive pretraining (`pretrain`,
on the data of `pretrain_data`), its zero-shot table (`zero_shot`) and the
check that a CLIP is in OpenAI CLIP's regime for prompt learning
(`regime`). Imports no Dassl; used by tools/pretrain_tiny_clip.py,
tools/toy_regime.py and the tests."""
