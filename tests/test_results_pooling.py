"""results.json's Mem and For pool the test images (docs/METHOD.md section 5),
through the trainer's real test on domains of unequal size.

The toy datasets give every domain the same number of test images, where the
pooled accuracy and the mean of the domain accuracies coincide; here the
tiny Office-Home test split loses images of some domains first.
"""
import json

import pytest
import torch

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from trainer_builds import build_adu  # noqa: E402

from trainers.engine.evaluation import install_domain_test  # noqa: E402


def pooled(per_domain, names):
    right = sum(per_domain[d]["accuracy"] / 100 * per_domain[d]["num_images"] for d in names)
    return 100 * right / sum(per_domain[d]["num_images"] for d in names)


def test_results_json_pools_mem_and_for_over_unequal_domains(office_home_root, tiny_clip_file,
                                                             tmp_path):
    trainer = build_adu(office_home_root, tmp_path, tiny_clip_file,
                        "TEST.LINEAR_PROBES", "False", forget="art,clipart")
    install_domain_test(trainer)
    domains = trainer.dm.dataset.domains
    # keep 1 image of product and 3 of art; clipart and real_world keep their 6
    keep = {"art": 3, "product": 1}
    wrapper = trainer.test_loader.dataset
    kept, seen = [], {}
    for item in wrapper.data_source:
        name = domains[item.domain]
        seen[name] = seen.get(name, 0) + 1
        if seen[name] <= keep.get(name, 6):
            kept.append(item)
    wrapper.data_source = kept
    trainer.test_loader = torch.utils.data.DataLoader(wrapper, batch_size=16, shuffle=False)
    trainer.test()

    with open(tmp_path / "results.json") as f:
        res = json.load(f)
    per_domain = res["per_domain"]
    assert {d: r["num_images"] for d, r in per_domain.items()} == {
        "art": 3, "clipart": 6, "product": 1, "real_world": 6}
    memorize, forget = res["memorize_domains"], res["forget_domains"]
    assert (sorted(forget), sorted(memorize)) == (["art", "clipart"], ["product", "real_world"])
    assert res["mem"] == pytest.approx(pooled(per_domain, memorize))
    assert res["for"] == pytest.approx(100 - pooled(per_domain, forget))
    assert res["h"] == pytest.approx(2 * res["mem"] * res["for"] / (res["mem"] + res["for"]))
    # the guard: here pooling and the mean of the domains give other numbers
    mean_mem = sum(per_domain[d]["accuracy"] for d in memorize) / len(memorize)
    mean_for = 100 - sum(per_domain[d]["accuracy"] for d in forget) / len(forget)
    assert res["mem"] != pytest.approx(mean_mem) or res["for"] != pytest.approx(mean_for)
