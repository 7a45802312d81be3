"""What a watched run shows: Dassl's log lines every TRAIN.PRINT_FREQ steps
(one host sync each), one progress line per epoch, and with QUIET only the
progress lines on the terminal while job.log gets everything."""
import sys

import pytest

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from experiments.bench.syncs import SyncCounter  # noqa: E402
from experiments.launch.local import logged_with_progress  # noqa: E402
from trainer_builds import build_adu  # noqa: E402
from trainers.engine import loss_log  # noqa: E402
from trainers.engine.progress import EvaluationProgress  # noqa: E402


def test_an_epoch_reads_its_log_every_print_freq_steps_and_ends_with_a_progress_line(
        office_home_root, tiny_clip_file, tmp_path, monkeypatch, capsys):
    # 24 shots in 6 batches of 4, a log line every 4 steps: reads at steps 4 and 6
    trainer = build_adu(office_home_root, tmp_path, tiny_clip_file,
                        "DATALOADER.TRAIN_X.BATCH_SIZE", "4", "TRAIN.PRINT_FREQ", "4")
    reads, step_syncs = [], SyncCounter()
    read = loss_log.LossLog.read
    monkeypatch.setattr(loss_log.LossLog, "read", lambda log: reads.append(1) or read(log))
    step = trainer.forward_backward

    def counted_step(batch):
        with step_syncs:
            return step(batch)
    monkeypatch.setattr(trainer, "forward_backward", counted_step)
    capsys.readouterr()
    trainer.run_epoch()
    out = capsys.readouterr().out.splitlines()
    assert step_syncs.count == 0, step_syncs.calls
    assert len(reads) == 2
    batch_lines = [line for line in out if line.startswith("epoch [1/1] batch")]
    assert [line.split()[3] for line in batch_lines] == ["[4/6]", "[6/6]"]
    assert "loss_mmd2" in batch_lines[0] and "acc_forget" in batch_lines[0]
    (progress,) = [line for line in out if line.startswith("progress: ")]
    assert progress.startswith("progress: epoch 1/1 loss_memorize ")
    assert " acc_mem " in progress and progress.endswith("eta 0:00:00")


def test_quiet_sends_everything_to_job_log_and_the_progress_lines_to_the_terminal(
        tmp_path, capsys):
    script = ("import sys\nprint('a config dump')\nprint('progress: epoch 1/2 eta 0:01:00', "
              "flush=True)\nprint('epoch [2/2] batch [1/1]')\nprint('progress: epoch 2/2')\n"
              "sys.exit(3)\n")
    log = tmp_path / "job.log"
    assert logged_with_progress([sys.executable, "-c", script], str(log)) == 3
    assert capsys.readouterr().out == "  epoch 1/2 eta 0:01:00\n  epoch 2/2\n"
    assert log.read_text() == ("a config dump\nprogress: epoch 1/2 eta 0:01:00\n"
                               "epoch [2/2] batch [1/1]\nprogress: epoch 2/2\n")


def test_a_long_evaluation_says_how_far_it_is(capsys):
    progress = EvaluationProgress("test", 300, every_s=0.0)
    for _ in range(3):
        progress.update(100)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" eta")[0].split(", elapsed")[0] for line in lines] == [
        "progress: test: 100/300 images (33%)", "progress: test: 200/300 images (67%)"]
    quiet = EvaluationProgress("test", 300)  # 20 s between lines: a short pass says nothing
    quiet.update(300)
    assert capsys.readouterr().out == ""
