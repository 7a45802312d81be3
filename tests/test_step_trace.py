"""One ADU training step reads in one sitting (docs/LAYOUT.md): from
`forward_backward` to its return, at most 25 project functions in at most 5
files, and no config check among them (settings are checked once, when the
trainer is built). Measured by experiments/bench/step_trace.py, the trace
behind tools/step_trace.py, on the toy benchmark."""
import pytest

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from train_harness import REPO, TINY_OPTS  # noqa: E402

from experiments.bench.step_trace import step_trace  # noqa: E402

MAX_FUNCTIONS, MAX_FILES = 25, 5


@pytest.fixture(scope="module")
def adu_step(office_home_root, tiny_clip_file):
    return step_trace(str(office_home_root), "ADU",
                      f"{REPO}/configs/trainers/ADU/vit_b16_ep50.yaml",
                      ["MODEL.BACKBONE.NAME", tiny_clip_file, *TINY_OPTS],
                      dataset="office_home", forget="art")


def test_one_adu_step_is_few_functions_in_few_files(adu_step):
    calls = adu_step["calls"]
    # the trace sees the step: the trainer, the model and the objective
    for expected in ("trainers/engine/base.py:UnlearningTrainer.forward_backward",
                     "trainers/modules/adu_model.py:ADUCLIP.forward",
                     "trainers/modules/losses.py:adu_losses", "trainers/adu.py:ADU.compute_losses"):
        assert expected in calls, f"{expected} not traced: {calls}"
    assert adu_step["functions"] == len(calls) <= MAX_FUNCTIONS, calls
    assert adu_step["files"] <= MAX_FILES, sorted({c.split(":")[0] for c in calls})


def test_no_config_check_runs_inside_the_step(adu_step):
    checks = [c for c in adu_step["calls"]
              if c.startswith("trainers/config_checks.py") or ":check" in c or ".check" in c]
    assert not checks, f"config checks inside the training step: {checks}"
