"""What the benchmark's rows 3t and 5v report, measured in-process on tiny
inputs (fast tier; tests/test_benchmark.py runs the tool itself): its
text-encoder counter counts, and its per-pair MMD loop computes ADU's estimate."""
import pytest
import torch
import torch.nn.functional as F

from experiments.bench.mmd import SameKernelMMD, per_pair_mmd2
from experiments.bench.steps import TextCallCounter
from trainers.modules.adu_model import ADUCLIP
from trainers.modules.losses import (
    ADUObjective,
    adu_losses,
    median_bandwidth,
    mmd2,
    squared_distances,
)


def test_no_text_encoder_call_in_a_training_step_and_the_counter_counts(tiny_clip):
    """Row 3t: the counter sees no text-encoder pass in an ADU training step,
    and sees each pass of encode_text."""
    model = ADUCLIP(tiny_clip, ["circle", "square", "star"], 2, n_ctx=2, depth=2,
                    instapg_layers=[2])
    counter = TextCallCounter(tiny_clip)
    out = model(torch.randn(4, 3, 32, 32))
    labels, domains = torch.tensor([0, 1, 2, 0]), torch.tensor([0, 0, 1, 1])
    adu_losses(logits=out.logits, labels=labels, domains=domains, forget_mask=domains == 1,
               features=out.features, domain_logits=out.domain_logits,
               objective=ADUObjective())["total"].backward()
    assert counter.calls == 0
    with torch.no_grad():
        for _ in range(2):
            tiny_clip.encode_text(torch.zeros(1, tiny_clip.context_length, dtype=torch.long))
    assert counter.calls == 2


def test_the_benchmarks_per_pair_loop_equals_the_all_pairs_mmd():
    """Row 5's contrast times the same estimate: its per-pair loop (Dassl's
    op with ADU's kernel) gives ADU's all-pairs MMD^2 (row 5v)."""
    g = torch.Generator().manual_seed(0)
    feats = F.normalize(torch.randn(24, 16, generator=g, dtype=torch.float64), dim=-1)
    domains = torch.tensor([0, 1, 2, 3] * 5 + [0, 0, 1, 2])  # unequal domain sizes
    h = median_bandwidth(squared_distances(feats)).item()
    loop = per_pair_mmd2(feats, domains, SameKernelMMD(h))
    assert loop.item() == pytest.approx(mmd2(features=feats, domains=domains).item(), rel=1e-9)
