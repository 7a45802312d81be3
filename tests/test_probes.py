"""Linear probes: they read linearly separable information and nothing else."""
import pytest
import torch

from trainers.modules.probes import probe_accuracy, probe_scores


def blobs(n_per, centers, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.cat([c + 0.1 * torch.randn(n_per, len(c), generator=gen) for c in centers])
    y = torch.arange(len(centers)).repeat_interleave(n_per)
    return x, y


def test_probe_reads_separable_labels():
    centers = torch.eye(4, 8) * 3
    assert probe_accuracy(*blobs(10, centers, 0), *blobs(20, centers, 1)) == 100.0


def test_probe_is_near_chance_without_information():
    gen = torch.Generator().manual_seed(0)
    x_tr, x_te = torch.randn(200, 8, generator=gen), torch.randn(400, 8, generator=gen)
    y_tr, y_te = torch.randint(0, 4, (200,), generator=gen), torch.randint(0, 4, (400,), generator=gen)
    assert probe_accuracy(x_tr, y_tr, x_te, y_te) < 40.0


def test_probe_scores_use_only_forget_domain_samples_for_the_class_probe():
    # classes separable in domain 1 only; domain 0's features carry no class
    gen = torch.Generator().manual_seed(0)
    def split(n):
        y = torch.arange(3).repeat(n)
        d = torch.tensor([0, 1]).repeat_interleave(len(y) // 2 + 1)[:len(y)]
        x = torch.randn(len(y), 6, generator=gen) * 0.1
        x[d == 1, :3] += 3 * torch.nn.functional.one_hot(y[d == 1], 3).float()
        x[:, 5] += 4 * d   # the domain is on axis 5
        return x, y, d
    scores = probe_scores(split(20), split(20), forget_ids=[1])
    assert scores["domain_probe_accuracy"] == pytest.approx(100.0)
    assert scores["forget_class_probe_accuracy"] == pytest.approx(100.0)
    scores = probe_scores(split(20), split(20), forget_ids=[0])
    assert scores["forget_class_probe_accuracy"] < 60.0
