"""results.json files as the runs write them, by hand, and tools/parse_results.py
run on them in this process: shared by test_parse_results and
test_sensitivity (parse_results.py --sweep)."""
import json
import os

from fake_data import OFFICE_HOME_DOMAINS
from tool_entry import load_tool

parse_results = load_tool("parse_results")


def write_run(root, forget, seed, mem, for_, h=None, method="ADU", dataset="office_home",
              domains=OFFICE_HOME_DOMAINS, shots=8, folder=None, config=None):
    """One results.json in main.sh's layout; H is 2 Mem For / (Mem + For) unless given.
    `config`: the run's config keys (fingerprint_keys, with its seed and forget
    domains added); without it the file is one written before fingerprints."""
    forget = [forget] if isinstance(forget, str) else list(forget)
    h = 2 * mem * for_ / (mem + for_) if h is None else h
    folder = folder or os.path.join(root, dataset, method, "forget_" + "+".join(forget),
                                    f"{shots}shots", f"seed{seed}")
    os.makedirs(folder, exist_ok=True)
    record = {"dataset": dataset, "trainer": method.split("-")[0], "method": method,
              "seed": seed, "num_shots": shots, "domains": list(domains),
              "forget_domains": forget,
              "memorize_domains": [d for d in domains if d not in forget],
              "mem": mem, "for": for_, "h": h}
    if config is not None:
        record["fingerprint_keys"] = dict(config, SEED=seed, **{
            "DATASET.FORGET_DOMAINS": forget, "DATASET.NUM_SHOTS": shots})
        record["fingerprint"] = "f" * 64  # parse_results compares the keys
    path = os.path.join(folder, "results.json")
    with open(path, "w") as f:
        json.dump(record, f)
    return path


def parse(capsys, *args):
    code = parse_results.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err
