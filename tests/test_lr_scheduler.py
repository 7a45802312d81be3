"""Our warm-up + main schedule (Dassl's meaning, without its torch-incompatible classes)."""
import math

import pytest
import torch
from yacs.config import CfgNode as CN

from trainers.engine.lr_scheduler import build_lr_scheduler


def optim_cfg(**kw):
    node = CN(dict(LR=0.0025, LR_SCHEDULER="cosine", MAX_EPOCH=5, WARMUP_EPOCH=1,
                   WARMUP_TYPE="constant", WARMUP_CONS_LR=1e-5, WARMUP_MIN_LR=1e-5,
                   WARMUP_RECOUNT=True, STEPSIZE=(-1,), GAMMA=0.1))
    node.merge_from_other_cfg(CN(kw))
    return node


def lrs_per_epoch(cfg, build=build_lr_scheduler):
    """The learning rate of each epoch under the scheduler `build` makes
    (ours by default; Dassl's to compare)."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=cfg.LR)
    sched = build(opt, cfg)
    out = []
    for _ in range(cfg.MAX_EPOCH):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def cosine(base, t, T):
    return base * (1 + math.cos(math.pi * t / T)) / 2


def test_papers_schedule_constant_warmup_then_cosine():
    # epoch 0 at 1e-5, then cosine restarted at the base lr (Dassl's RECOUNT)
    got = lrs_per_epoch(optim_cfg())
    expected = [1e-5] + [cosine(0.0025, t, 5) for t in range(4)]
    assert got == pytest.approx(expected, rel=1e-9)


def test_no_warmup_is_plain_cosine():
    got = lrs_per_epoch(optim_cfg(WARMUP_EPOCH=0))
    assert got == pytest.approx([cosine(0.0025, t, 5) for t in range(5)])


def test_linear_warmup_and_no_recount():
    cfg = optim_cfg(WARMUP_EPOCH=2, WARMUP_TYPE="linear", WARMUP_RECOUNT=False, MAX_EPOCH=6)
    got = lrs_per_epoch(cfg)
    expected = [1e-5, 0.0025 * 1 / 2] + [cosine(0.0025, t, 6) for t in range(2, 6)]
    assert got == pytest.approx(expected)


def test_step_schedules():
    got = lrs_per_epoch(optim_cfg(LR_SCHEDULER="single_step", STEPSIZE=(2,), WARMUP_EPOCH=0))
    assert got == pytest.approx([0.0025, 0.0025, 0.00025, 0.00025, 0.000025])
    got = lrs_per_epoch(optim_cfg(LR_SCHEDULER="multi_step", STEPSIZE=(1, 3), WARMUP_EPOCH=0))
    assert got == pytest.approx([0.0025, 0.00025, 0.00025, 0.000025, 0.000025])


def test_state_round_trip_resumes_the_schedule():
    cfg = optim_cfg()
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=cfg.LR)
    sched = build_lr_scheduler(opt, cfg)
    for _ in range(3):
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.LR)
    opt2.load_state_dict(opt.state_dict())
    sched2 = build_lr_scheduler(opt2, cfg)
    sched2.load_state_dict(state)
    opt.step()
    sched.step()
    opt2.step()
    sched2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"])


def test_unknown_scheduler_fails_clearly():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="LR_SCHEDULER"):
        build_lr_scheduler(opt, optim_cfg(LR_SCHEDULER="poly"))


@pytest.mark.parametrize("kw", [
    dict(WARMUP_EPOCH=0),
    dict(WARMUP_EPOCH=0, LR_SCHEDULER="single_step", STEPSIZE=(2,)),
    dict(WARMUP_EPOCH=0, LR_SCHEDULER="multi_step", STEPSIZE=(1, 3)),
])
def test_matches_dassl_where_dassl_still_runs(kw):
    """Without warm-up Dassl's builder works on this torch: same per-epoch lrs."""
    dassl_optim = pytest.importorskip("dassl.optim", reason="Dassl not installed (see README)")
    cfg = optim_cfg(**kw)
    theirs = lrs_per_epoch(cfg, dassl_optim.build_lr_scheduler)
    assert lrs_per_epoch(cfg) == pytest.approx(theirs, rel=1e-9)


@pytest.mark.parametrize("warmup", ["constant", "linear"])
def test_dassls_warm_up_schedule_after_the_fix_is_ours(warmup):
    """trainers.engine.dassl_compat makes Dassl's own build_lr_scheduler run
    on current torch, with the learning rates of ours at every epoch."""
    pytest.importorskip("dassl")
    from dassl.optim import build_lr_scheduler as dassl_build
    from trainers.engine.dassl_compat import install_dassl_fixes
    install_dassl_fixes()
    cfg = optim_cfg(MAX_EPOCH=6, WARMUP_EPOCH=2, WARMUP_TYPE=warmup)
    theirs = lrs_per_epoch(cfg, dassl_build)
    ours = lrs_per_epoch(cfg)
    assert theirs == pytest.approx(ours, rel=1e-12)
    assert ours[0] == pytest.approx(1e-5) and ours[2] == pytest.approx(cfg.LR)


def test_dassls_warm_up_scheduler_saves_a_weights_only_state(tmp_path):
    """Its checkpoint state loads with torch.load's weights-only default, and
    a scheduler restored from it continues the same schedule."""
    pytest.importorskip("dassl")
    from dassl.optim import build_lr_scheduler as dassl_build
    from trainers.engine.dassl_compat import install_dassl_fixes
    install_dassl_fixes()
    cfg = optim_cfg(MAX_EPOCH=6, WARMUP_EPOCH=1, WARMUP_TYPE="linear")

    def fresh():
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.LR)
        return opt, dassl_build(opt, cfg)

    opt, sched = fresh()
    for _ in range(3):
        opt.step()
        sched.step()
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()},
               tmp_path / "ckpt")
    state = torch.load(tmp_path / "ckpt", weights_only=True)  # as Dassl's resume reads it
    opt2, sched2 = fresh()
    opt2.load_state_dict(state["optimizer"])
    sched2.load_state_dict(state["scheduler"])
    for _ in range(2):
        opt.step()
        sched.step()
        opt2.step()
        sched2.step()
        assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
