"""scripts/adu/demo.sh end to end at a reduced size (one epoch per run):
zero-shot CLIP, the Baseline and ADU on the toy benchmark through train.py
and the real Dassl trainers, ending with one table whose numbers must hold
together. No accuracy is asserted: one epoch trains nothing worth scoring."""
import json
import os

import pytest

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from datasets.toy_render import DOMAINS  # noqa: E402
from train_harness import REPO, run_script, train_py  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end runs: `make test`, not `make test-fast`


METHODS = ["ZeroshotCLIP", "ADU-Baseline", "ADU"]
HEADERS = (["dataset", "forget", "method"] + DOMAINS
           + ["For", "Mem", "H", "domain clf", "domain probe", "forget-class probe", "seeds"])
FOLDERS = {"ZeroshotCLIP": "ZeroshotCLIP_toy_tiny", "ADU-Baseline": "ADU_toy_tiny_Baseline",
           "ADU": "ADU_toy_tiny"}


def run_demo(data_root, output, *opts):
    proc = run_script("demo.sh", *(["--", *opts] if opts else []), timeout=600,
                      env={"DATA": str(data_root), "OUTPUT": str(output), "SEEDS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def parse_table(stdout):
    """The final table's headers and rows ({column: cell} each), its columns
    cut where tabulate's dashed rule puts them (headers may hold spaces)."""
    lines = stdout.splitlines()
    title = next(i for i, line in enumerate(lines) if line.startswith("Per-domain accuracy"))
    header, rule, *body = lines[title + 1:]
    spans, start = [], 0
    for dashes in rule.split("  "):
        if dashes:
            spans.append((start, start + len(dashes)))
        start += len(dashes) + 2
    cells = lambda line: [line[a:b].strip() for a, b in spans]
    headers = cells(header)
    rows = [dict(zip(headers, cells(line))) for line in body if line.strip()]
    return headers, rows


@pytest.fixture(scope="module")
def demo(toy_data_root, tmp_path_factory):
    output = tmp_path_factory.mktemp("demo")
    return output, run_demo(toy_data_root, output, "OPTIM.MAX_EPOCH", "1")


def test_demo_ends_with_one_table_of_the_three_methods(demo):
    _, stdout = demo
    assert "demo.sh: 3 ran, 0 skipped (done), 0 failed" in stdout
    headers, rows = parse_table(stdout)
    assert headers == HEADERS
    assert [row["method"] for row in rows] == METHODS
    for row in rows:
        assert row["dataset"] == "toy_domains" and row["forget"] == "sketch"
        assert row["seeds"] == "1"
        assert row["sketch"].endswith("*")
        assert not any(row[d].endswith("*") for d in DOMAINS if d != "sketch")
    # The domain classifier exists in ADU only; the linear probes run for all.
    assert [row["domain clf"] == "-" for row in rows] == [True, True, False]
    assert all(row["domain probe"] != "-" for row in rows)


def record_of(output, method):
    path = os.path.join(output, "toy_domains", FOLDERS[method], "forget_sketch",
                        "8shots", "seed1", "results.json")
    with open(path) as f:
        return json.load(f)


def test_mem_for_h_lie_in_range_and_follow_from_the_domain_accuracies(demo):
    """Mem pools the memorize domains' test images (docs/METHOD.md section 5):
    the domain accuracies weighted by their image counts (from results.json;
    tests/test_results_pooling.py checks the pooling on unequal domains)."""
    output, stdout = demo
    _, rows = parse_table(stdout)
    for row in rows:
        acc = {d: float(row[d].rstrip("*")) for d in DOMAINS}
        mem, forget, h = float(row["Mem"]), float(row["For"]), float(row["H"])
        for value in [*acc.values(), mem, forget, h]:
            assert 0.0 <= value <= 100.0, row
        # Cells are rounded to 0.01: allow for it.
        assert forget == pytest.approx(100.0 - acc["sketch"], abs=0.011), row
        counts = {d: r["num_images"] for d, r in
                  record_of(output, row["method"])["per_domain"].items()}
        memorized = [d for d in DOMAINS if d != "sketch"]
        pooled = sum(acc[d] * counts[d] for d in memorized) / sum(counts[d] for d in memorized)
        assert mem == pytest.approx(pooled, abs=0.011), row
        expected_h = 2 * mem * forget / (mem + forget) if mem + forget else 0.0
        assert h == pytest.approx(expected_h, abs=0.02), row


def test_the_table_reports_what_each_run_wrote(demo):
    output, stdout = demo
    _, rows = parse_table(stdout)
    for row in rows:
        record = record_of(output, row["method"])
        assert record["method"] == row["method"]
        assert record["forget_domains"] == ["sketch"]
        assert f"{record['h']:.2f}" == row["H"]


def test_a_second_call_skips_the_finished_runs_and_prints_the_table_again(
        demo, toy_data_root):
    output, first = demo
    again = run_demo(toy_data_root, output, "OPTIM.MAX_EPOCH", "1")
    assert "demo.sh: 0 ran, 3 skipped (done), 0 failed" in again
    assert parse_table(again) == parse_table(first)


def test_the_same_seed_on_the_toy_benchmark_writes_identical_results(
        demo, toy_data_root, tmp_path):
    """ADU's demo run, repeated by hand through train.py into another folder."""
    output, _ = demo
    train_py("--root", str(toy_data_root), "--seed", "1", "--trainer", "ADU",
             "--dataset-config-file", os.path.join(REPO, "configs", "datasets", "toy_domains.yaml"),
             "--config-file", os.path.join(REPO, "configs", "trainers", "ADU", "toy_tiny.yaml"),
             "--output-dir", str(tmp_path), "--forget-domains", "sketch",
             "DATASET.NUM_SHOTS", "8", "OPTIM.MAX_EPOCH", "1")
    first = os.path.join(output, "toy_domains", "ADU_toy_tiny", "forget_sketch", "8shots",
                         "seed1", "results.json")
    with open(first) as f, open(tmp_path / "results.json") as g:
        assert json.load(f) == json.load(g)
