"""Check that a dataset is complete on disk, before training; downloads nothing.

    python tools/check_data.py domainnet --root DATA [--max-missing 20]

Prints one line per missing folder, split file or image (and per empty class
folder): the absolute path expected and where to get it, the first N of them
and then how many more, and a summary line; exits 1. When everything is
there it prints the images found per domain and split, and exits 0. An
unknown dataset name exits 2. train.py runs the same check
(datasets/preflight.py) when it builds the dataset.
"""
import argparse
import os
import os.path as osp
import sys
import warnings

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
# Dassl imports wilds, whose `outdated` check would try the network.
os.environ.setdefault("OUTDATED_IGNORE", "1")
# ...and `outdated` imports pkg_resources, which setuptools flags on every
# import although setuptools<81 is installed: nothing a user can act on.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated",
                        module="outdated")

import datasets  # noqa: E402
from datasets.preflight import check_layout  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", help="config name, e.g. office_home or domainnet")
    parser.add_argument("--root", required=True, help="DATASET.ROOT (--root of train.py)")
    parser.add_argument("--max-missing", type=int, default=20,
                        help="list at most this many problems (0: all); default 20")
    return parser.parse_args(argv)


def print_counts(counts, domains):
    for domain in domains:
        splits = counts.get(domain, {})
        print(f"  {domain:<14}" + "".join(f"  {split} {n:>8,}" for split, n in splits.items()))


def main(argv=None) -> int:
    args = parse_args(argv)
    datasets.require_dassl("check_data.py")  # Dassl and torch: after --help
    from datasets.adu_base import adu_datasets
    registered = adu_datasets()
    if args.dataset not in registered:
        print(f"check_data.py: unknown dataset '{args.dataset}'; ADU datasets: "
              f"{', '.join(registered)}")
        return 2
    cls = registered[args.dataset]
    root = osp.abspath(osp.expanduser(args.root))
    layout = cls.expected_layout(root)
    try:
        report = check_layout(layout)
    except ValueError as err:  # a damaged split file
        print(f"check_data.py: {err}")
        return 1
    problems = report.problems
    shown = problems if args.max_missing <= 0 else problems[:args.max_missing]
    for problem in shown:
        print(problem.line())
    if len(problems) > len(shown):
        print(f"... and {len(problems) - len(shown):,} more (--max-missing 0 lists all)")
    if problems:
        no_root = "" if osp.isdir(root) else f" ({root} does not exist)"
        print(f"{args.dataset}: {len(problems):,} missing under {root}{no_root}; "
              f"get the data: {layout.help}; see docs/DATASETS.md")
        return 1
    print(f"{args.dataset}: all data present under {root}; images found:")
    print_counts(report.counts, cls.domains)
    return 0


if __name__ == "__main__":
    sys.exit(main())
