"""Each comparison trainer as its authors' release runs it (docs/COMPARISON.md).

BBF: the release's sizes for the class count, fitness over every shot from
features encoded once, the best candidate by H on held-out training shots.
LP++: class sums and the data-driven ratio as the start, closed-form step
sizes, no weight decay, full-batch steps on features extracted once.
CLIPFit: its distillation term. MaPLe: "[c1][c2] of a {class}." and deep
couplings that start as copies of one layer. On a tiny CLIP and tiny data.
"""
import os

import numpy as np
import pytest
import torch

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from dassl.config import get_cfg_default  # noqa: E402
from train_harness import REPO  # noqa: E402
from trainer_builds import CLASSNAMES, build, images  # noqa: E402

from trainers.bbf_adu import (  # noqa: E402
    BBFCLIP,
    CandidateScore,
    LatentContext,
    LatentSearch,
    resolve_settings,
)
from trainers.clipfit_adu import (  # noqa: E402
    CLIPFitModel,
    CLIPFitOutput,
    clipfit_objective,
    text_drift,
)
from trainers.config import extend_cfg  # noqa: E402
from trainers.engine.shot_features import ShotFeatures, held_out_shots  # noqa: E402
from trainers.lp_plus_plus_adu import (  # noqa: E402
    BlendedLinearProbe,
    alpha_step_size,
    class_sums,
    weight_step_size,
)
from trainers.maple_adu import CoupledPrompts, MaPLeCLIP  # noqa: E402
from trainers.modules.clip_heads import (  # noqa: E402
    encode_class_texts,
    frozen_image_features,
    normalize,
)
from trainers.modules.clip_loading import freeze  # noqa: E402
from trainers.modules.tiny_clip import build_clip  # noqa: E402
from trainers.modules.losses import memorize_forget_losses  # noqa: E402
from trainers.modules.metrics import unlearning_scores  # noqa: E402

COMPARISON_YAMLS = ["CoOpADU", "MaPLeADU", "LPPlusPlusADU", "CLIPFitADU", "BBFADU",
                    "ZeroshotCLIP"]


def yaml_path(trainer):
    return os.path.join(REPO, "configs", "trainers", trainer, "vit_b16_ep50.yaml")


def method_cfg(trainer, node):
    cfg = get_cfg_default()
    extend_cfg(cfg)
    cfg.merge_from_file(yaml_path(trainer))
    return cfg.TRAINER[node]


def count_calls(obj, name):
    """Wrap obj.name so that every call is counted in the returned list."""
    calls, original = [], getattr(obj, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)
    setattr(obj, name, counted)
    return calls


def shot_set(n=12, seed=0):
    """Labels, domains (domain 0 forgotten) and forget mask of n fake shots."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, len(CLASSNAMES), (n,), generator=generator)
    domains = torch.arange(n) % 4
    return labels, domains, domains == 0


# ----- BBF ---------------------------------------------------------------------

def test_bbf_latent_has_the_release_dimensions_for_the_class_count():
    node = method_cfg("BBFADU", "BBFADU")
    # The yaml leaves every size to the release's rule for the class count.
    assert resolve_settings(node, 65) == (16, 400, 100, 400)  # Office-Home
    assert resolve_settings(node, 1000) == (16, 400, 100, 800)  # ImageNet
    assert resolve_settings(node, 10) == (4, 20, 5, 400)  # the release's CIFAR-10
    embedding = build_clip("tiny").token_embedding.weight
    for classes in (65, 1000):
        n_ctx, shared, unique, _ = resolve_settings(node, classes)
        learner = LatentContext(embedding, n_ctx, shared, unique)
        assert learner.latent.numel() == 400 + 16 * 100
        assert [b.stop - b.start for b in learner.blocks()] == [400] + [100] * 16
        assert learner.context().shape == (16, embedding.shape[1])


def test_bbf_trainer_takes_the_release_sizes_for_a_65_class_dataset(tmp_path, tiny_clip_file):
    from fake_data import make_office_home
    make_office_home(tmp_path / "data", num_classes=65, train_per_pair=2, val_per_pair=1)
    trainer = build("BBFADU", tmp_path / "data", tmp_path / "out", tiny_clip_file,
                    opts=["TRAINER.BBFADU.ITERATIONS", "-1", "DATASET.NUM_SHOTS", "1"])
    assert trainer.settings == (16, 400, 100, 400)
    assert trainer.model.learner.dim == 2000 and len(trainer.model.learner.sigma) == 17


def test_bbf_fitness_is_the_loss_over_every_shot_from_cached_features(tiny_clip):
    model = BBFCLIP(freeze(tiny_clip), CLASSNAMES)
    pixels = images(12)
    labels, domains, forget = shot_set(12)
    shots = ShotFeatures(frozen_image_features(model.clip, pixels), labels, domains, forget)
    latent = torch.randn(model.learner.dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        logits = model(pixels, latent)
    expected = memorize_forget_losses(logits=logits, labels=labels,
                                      forget_mask=forget)["total"].item()
    half = memorize_forget_losses(logits=logits[:6], labels=labels[:6],
                                  forget_mask=forget[:6])["total"].item()
    expected_h = unlearning_scores(logits.argmax(-1), labels, domains, ["a", "b", "c", "d"],
                                   [0])["h"]

    def no_images(*args):
        raise AssertionError("a candidate's score must not encode images again")
    model.clip.encode_image = no_images
    fitness, val_h = CandidateScore(model, shots, validation=shots)(latent)
    assert fitness == pytest.approx(expected, rel=1e-5) and fitness != pytest.approx(half)
    assert val_h == pytest.approx(expected_h)


def planted_search(with_validation=True, iterations=5):
    """CMA-ES drawn towards +3 by the fitness while the validation H peaks at
    -3 (a planted best): returns the learner, search, every (H, candidate)."""
    np.random.seed(0)
    learner = LatentContext(torch.randn(50, 8), n_ctx=2, shared_dim=3, unique_dim=2)
    search = LatentSearch(learner, popsize=6)
    seen = []

    def score(z):
        h = 100.0 / (1.0 + (z + 3.0).norm().item())
        seen.append((h, z.clone()))
        return (z - 3.0).norm().item(), h if with_validation else None
    for _ in range(iterations):
        search.iterate(score)
    return learner, search, seen


def test_bbf_returns_the_candidate_with_the_best_validation_h():
    learner, _, seen = planted_search()
    best_h, best = max(seen, key=lambda pair: pair[0])  # the first of equal ones
    assert learner.best_h.item() == pytest.approx(best_h)
    assert torch.equal(learner.latent, best)
    # not the CMA-ES mean, which the fitness pulls the other way
    assert (learner.mean - 3.0).norm() < (learner.latent - 3.0).norm()
    assert len(seen) == 5 * 6


def test_bbf_without_validation_uses_the_cma_es_mean():
    learner, search, _ = planted_search(with_validation=False)
    assert torch.equal(learner.latent, learner.mean) and learner.best_h.item() == -1.0
    means = np.concatenate([es.mean for es in search.searches])
    torch.testing.assert_close(learner.mean, torch.as_tensor(means, dtype=torch.float32))


def test_bbf_validation_shots_are_held_out_of_the_training_pool(office_home_root, tiny_clip_file,
                                                                tmp_path):
    trainer = build("BBFADU", office_home_root, tmp_path, tiny_clip_file)
    dataset = trainer.dm.dataset
    items = held_out_shots(dataset, 2, seed=0)
    shots = {d.impath for d in dataset.train_x}
    tests = {d.impath for d in dataset.test}
    # 3 training images per (class, domain), 2 of them shots: one spare each
    assert len(items) == 3 * 4
    assert {(d.label, d.domain) for d in items} == {(d.label, d.domain) for d in dataset.train_x}
    assert all(d.impath not in shots and d.impath not in tests for d in items)
    assert all(f"{os.sep}train{os.sep}" in d.impath for d in items)


def test_bbf_encodes_the_shots_once_and_resumes_its_search(office_home_root, tiny_clip_file,
                                                           tmp_path):
    opts = ["OPTIM.MAX_EPOCH", "2", "TRAIN.CHECKPOINT_FREQ", "1"]
    trainer = build("BBFADU", office_home_root, tmp_path, tiny_clip_file, opts=opts)
    calls = count_calls(trainer.model.clip, "encode_image")
    trainer.before_train()
    encoded = len(calls)
    assert encoded > 0 and len(trainer.score.train.labels) == len(trainer.dm.dataset.train_x)
    assert len(trainer.score.validation.labels) == 3 * 4
    trainer.epoch = 0
    trainer.run_epoch()
    assert len(calls) == encoded  # every candidate scored on the cached features
    trainer.after_epoch()
    learner = trainer.model.learner
    assert learner.best_h >= 0

    again = build("BBFADU", office_home_root, tmp_path, tiny_clip_file, opts=opts)
    again.before_train()
    assert again.start_epoch == 1
    for name, value in learner.state_dict().items():
        assert torch.equal(again.model.learner.state_dict()[name], value), name
    means = np.concatenate([es.mean for es in again.search.searches])
    torch.testing.assert_close(torch.as_tensor(means, dtype=torch.float32), learner.mean.cpu())
    assert [es.sigma for es in again.search.searches] == pytest.approx(learner.sigma.tolist())


# ----- LP++ --------------------------------------------------------------------

def test_lp_plus_plus_starts_from_the_class_sums_and_the_data_driven_ratio():
    generator = torch.Generator().manual_seed(0)
    features = normalize(torch.randn(6, 4, generator=generator))
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    text = normalize(torch.randn(3, 4, generator=generator))
    probe = BlendedLinearProbe(text)
    probe.initialise(features, labels)
    for k in range(3):
        own = features[labels == k]
        # the release's centroids: the class sum, i.e. count x the class mean
        torch.testing.assert_close(probe.linear.weight[k], len(own) * own.mean(dim=0))
    similarity = [(features[labels == k] @ text[k]).mean() for k in range(3)]
    torch.testing.assert_close(probe.alpha, torch.full((3,), 250.0 * torch.stack(similarity)
                                                       .mean().item()))


def test_lp_plus_plus_step_sizes_are_the_closed_forms_on_a_small_matrix():
    features = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    # F^T F = diag(4, 2): 4 N / lambda_max = 4 * 3 / 4
    assert weight_step_size(features) == pytest.approx(3.0)
    # with t_k the unit vectors, sum_i (f_i . t_k)^2 = (4, 2): N / (4 * 4)
    assert alpha_step_size(features, torch.eye(2)) == pytest.approx(3.0 / 16.0)


def test_lp_plus_plus_trains_full_batch_on_features_extracted_once(office_home_root,
                                                                   tiny_clip_file, tmp_path):
    trainer = build("LPPlusPlusADU", office_home_root, tmp_path, tiny_clip_file,
                    opts=["OPTIM.WEIGHT_DECAY", "0.5", "OPTIM.LR", "0.3"])
    calls = count_calls(trainer.model.clip, "encode_image")
    trainer.before_train()
    encoded, shots, learner = len(calls), trainer.shots, trainer.model.learner
    assert encoded > 0 and len(shots.labels) == len(trainer.dm.dataset.train_x)
    torch.testing.assert_close(learner.linear.weight,
                               class_sums(shots.features, shots.labels, len(CLASSNAMES)))
    (group,) = trainer.optim.param_groups
    assert group["weight_decay"] == 0.0 and group["momentum"] == 0.9  # not OPTIM's
    assert group["lr"] == pytest.approx(weight_step_size(shots.features))
    alpha = learner.alpha.detach().clone()
    for epoch in range(10):
        trainer.epoch = epoch
        trainer.run_epoch()
        assert torch.equal(learner.alpha, alpha) == (epoch < 9)  # a step every 10 epochs
    assert len(calls) == encoded


# ----- CLIPFit and MaPLe --------------------------------------------------------

def test_clipfit_loss_grows_with_text_drift(tiny_clip):
    assert method_cfg("CLIPFitADU", "CLIPFITADU").DISTILL_WEIGHT == 2.0  # on by default
    model = CLIPFitModel(freeze(tiny_clip), CLASSNAMES)
    with torch.no_grad():
        assert text_drift(model.text_features(), model.zero_shot_text).item() == pytest.approx(
            0.0, abs=1e-6)
        # a tuned text bias moves the class texts (a constant shift would
        # vanish in the next LayerNorm, so a random one)
        model.text_params[0].add_(torch.randn(model.text_params[0].shape,
                                              generator=torch.Generator().manual_seed(1)))
        assert text_drift(model.text_features(), model.zero_shot_text).item() > 1e-4
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 3, generator=generator)
    labels, _, forget = shot_set(12)
    zero_shot = model.zero_shot_text
    noise = torch.randn(zero_shot.shape, generator=generator)
    totals = [clipfit_objective(outputs=CLIPFitOutput(logits, normalize(zero_shot + eps * noise)),
                                zero_shot_text=zero_shot, labels=labels,
                                forget_mask=forget)["total"].item()
              for eps in (0.0, 0.05, 0.2, 1.0)]
    assert totals == sorted(totals) and len(set(totals)) == 4
    plain = memorize_forget_losses(logits=logits, labels=labels, forget_mask=forget)["total"].item()
    assert totals[0] == pytest.approx(plain, abs=1e-5)


def test_maple_prompt_reads_learned_words_then_of_a_class(tiny_clip):
    model = MaPLeCLIP(freeze(tiny_clip), CLASSNAMES, n_ctx=2, depth=1)
    assert model.text.prompts.texts == [f"a photo of a {name}." for name in CLASSNAMES]
    # at the start, the context is "a photo": the prompt is the hand-written one
    with torch.no_grad():
        torch.testing.assert_close(model.text_features(),
                                   encode_class_texts(tiny_clip, CLASSNAMES, "a photo of a {}."),
                                   atol=1e-5, rtol=1e-5)


def test_maple_deep_couplings_start_as_copies_of_one_layer():
    prompts = CoupledPrompts(torch.randn(2, 64), depth=9, vision_width=96)
    first, *deep = prompts.couplings
    assert len(deep) == 8
    for layer in deep:
        assert torch.equal(layer.weight, deep[0].weight) and torch.equal(layer.bias, deep[0].bias)
    assert not torch.equal(first.weight, deep[0].weight)
    with torch.no_grad():
        deep[0].weight.add_(1.0)  # copies, not one shared layer
    assert not torch.equal(deep[1].weight, deep[0].weight)


@pytest.mark.parametrize("trainer", COMPARISON_YAMLS)
def test_every_yaml_states_the_release_recipe(trainer):
    text = open(yaml_path(trainer)).read()
    assert "Release recipe" in text, trainer
