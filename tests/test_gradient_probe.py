"""tools/gradient_probe.py (experiments/analysis/gradient_probe.py): each
term's gradient is the one it names, weighted."""
import os.path as osp

import pytest
from tool_entry import load_tool

from experiments.analysis import gradient_probe

gradient_probe_tool = load_tool("gradient_probe")


@pytest.fixture(scope="module")
def toy_dir(toy_data_root):
    return osp.join(str(toy_data_root), "toy_domains")


def probe(clip_file, toy_dir, gamma=30.0, lam=10.0):
    rows, scale = gradient_probe.probe(clip_file, toy_dir, ["sketch"], gamma, lam,
                                       seeds=[1], shots=2)
    return rows, scale


def test_weights_scale_the_domain_terms_and_not_the_class_terms(tiny_clip_file, toy_dir):
    base, _ = probe(tiny_clip_file, toy_dir)
    doubled, _ = probe(tiny_clip_file, toy_dir, gamma=60.0, lam=20.0)
    assert base["memorize"][2] == pytest.approx(1.0)  # ratio to itself
    for key in ("memorize", "forget"):
        assert doubled[key][0] == pytest.approx(base[key][0], rel=1e-5)
    for key in ("domain_ce", "mmd2"):
        assert base[key][0] > 0 and base[key][1] > 0
        assert doubled[key][0] == pytest.approx(2 * base[key][0], rel=1e-4)
        assert doubled[key][1] == pytest.approx(2 * base[key][1], rel=1e-4)


def test_zero_weight_means_zero_gradient(tiny_clip_file, toy_dir):
    rows, _ = probe(tiny_clip_file, toy_dir, gamma=0.0, lam=0.0)
    assert rows["domain_ce"][:2] == [0.0, 0.0]
    assert rows["mmd2"][:2] == [0.0, 0.0]


def test_bad_forget_domain_is_one_line(capsys, tiny_clip_file, toy_data_root):
    code = gradient_probe_tool.main(["--clip", tiny_clip_file, "--root", str(toy_data_root),
                                     "--forget", "cartoon"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "cartoon" in err[0]
