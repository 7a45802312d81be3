"""tools/benchmark.py runs at a tiny size and prints every row (no timing checks)."""
import pytest

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from train_harness import train_py  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end runs: `make test`, not `make test-fast`


ROWS = ["1", "2", "3", "3c", "3t", "3s", "4a", "4b", "5a", "5b", "5v", "5c",
        "6a", "6b", "6c", "6d", "7a", "7b", "8a", "8b", "8c", "8d", "8g", "9a", "9b"]


@pytest.fixture(scope="module")
def table():
    proc = train_py("--tiny", "--device", "cpu", "--grad-checkpointing",
                    "--coop-classes", "65,300", "--text-chunk", "100",
                    script="tools/benchmark.py", timeout=300)
    rows = {}
    for line in proc.stdout.splitlines():
        key = line.split(maxsplit=1)[0] if line.strip() else ""
        if key in ROWS:
            rows[key] = line
    return proc.stdout, rows


def test_every_row_is_printed(table):
    out, rows = table
    assert list(rows) == ROWS
    assert "torch threads" in out and "targets met:" in out


def test_no_text_encoder_call_in_a_training_step_and_the_counter_counts(tiny_clip):
    """What row 3t measures, measured here: the benchmark's counter sees no
    text-encoder pass in an ADU training step, and sees the one of encode_text."""
    import torch

    from experiments.bench.steps import TextCallCounter
    from trainers.modules.adu_clip import ADUCLIP
    from trainers.modules.losses import adu_losses

    model = ADUCLIP(tiny_clip, ["circle", "square", "star"], 2, n_ctx=2, depth=2,
                    instapg_layers=[2])
    counter = TextCallCounter(tiny_clip)
    out = model(torch.randn(4, 3, 32, 32))
    labels, domains = torch.tensor([0, 1, 2, 0]), torch.tensor([0, 0, 1, 1])
    adu_losses(out.logits, labels, domains, domains == 1, out.features,
               out.domain_logits)["total"].backward()
    assert counter.calls == 0
    with torch.no_grad():
        tiny_clip.encode_text(torch.zeros(1, tiny_clip.context_length, dtype=torch.long))
    assert counter.calls == 1


def test_the_benchmarks_per_pair_loop_equals_the_all_pairs_mmd():
    """Row 5's contrast times the same estimate: its per-pair loop (Dassl's
    op with ADU's kernel) gives ADU's all-pairs MMD^2 (row 5v, measured here)."""
    import torch
    import torch.nn.functional as F

    from experiments.bench.mmd import SameKernelMMD, per_pair_mmd2
    from trainers.modules.losses import median_bandwidth, mmd2_all_pairs, squared_distances

    g = torch.Generator().manual_seed(0)
    feats = F.normalize(torch.randn(24, 16, generator=g, dtype=torch.float64), dim=-1)
    domains = torch.tensor([0, 1, 2, 3] * 5 + [0, 0, 1, 2])  # unequal domain sizes
    h = median_bandwidth(squared_distances(feats)).item()
    loop = per_pair_mmd2(feats, domains, SameKernelMMD(h))
    assert loop.item() == pytest.approx(mmd2_all_pairs(feats, domains).item(), rel=1e-9)


def test_text_recompute_is_counted_per_chunk(table):
    out, _ = table
    assert "65 classes, 1 call)" in out
    assert "3 x 100 classes, 3 calls)" in out
