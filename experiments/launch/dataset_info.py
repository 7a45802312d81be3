"""Print the domains of a registered ADU dataset, for the experiment scripts.

    python tools/dataset_info.py office_home    ->  art clipart product real_world
    python tools/dataset_info.py --list         ->  the ADU dataset names

The domain lists live in the dataset classes (datasets/); the bash scripts
ask here instead of keeping copies. An unknown name fails (exit 2) with
the list of valid ones.
"""
import argparse
import os
import sys
import warnings

# Dassl imports wilds, whose `outdated` check would try the network.
os.environ.setdefault("OUTDATED_IGNORE", "1")
if __name__ == "__main__":
    # That check runs in a background thread (no `catch_warnings` block can
    # scope it) and imports pkg_resources, which setuptools flags as
    # deprecated: a line in the scripts' output that no user can act on.
    # Filtered only in this tool's own process; imported, it sets no filter.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

import datasets  # noqa: E402  (registers the ADU datasets)

datasets.require_dassl("dataset_info.py")
from datasets.adu_base import adu_datasets  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", nargs="?", help="config name, e.g. office_home")
    parser.add_argument("--list", action="store_true", help="print the ADU dataset names")
    args = parser.parse_args(argv)
    known = adu_datasets()
    if args.list:
        print(" ".join(known))
        return 0
    if args.dataset not in known:
        given = f"unknown dataset '{args.dataset}'" if args.dataset else "no dataset given"
        print(f"{given}; ADU datasets: {', '.join(known)}", file=sys.stderr)
        return 2
    print(" ".join(known[args.dataset].domains))
    return 0


if __name__ == "__main__":
    sys.exit(main())
