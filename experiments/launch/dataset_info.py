"""The domains of an ADU dataset, for the launcher, without Dassl or torch.

    python -m experiments.launch.dataset_info office_home   ->  art clipart product real_world
    python -m experiments.launch.dataset_info --list        ->  the ADU dataset names

The lists are datasets/domain_lists.py, which the dataset classes use too
(tests/test_datasets_layout.py checks that they agree with the registered
classes). Imported by the launcher's planning (experiments/launch/).
"""
import argparse
import sys


class UnknownDataset(Exception):
    """A dataset name that is no ADU dataset; the message lists the valid ones."""


def known() -> dict:
    """{config name: domains} of every ADU dataset, sorted by name."""
    from datasets.domain_lists import DOMAINS
    return dict(sorted(DOMAINS.items()))


def domains_of(name: str) -> list:
    found = known()
    if name not in found:
        given = f"unknown dataset '{name}'" if name else "no dataset given"
        raise UnknownDataset(f"{given}; ADU datasets: {', '.join(found)}")
    return list(found[name])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", nargs="?", help="config name, e.g. office_home")
    parser.add_argument("--list", action="store_true", help="print the ADU dataset names")
    args = parser.parse_args(argv)
    if args.list:
        print(" ".join(known()))
        return 0
    try:
        print(" ".join(domains_of(args.dataset or "")))
    except UnknownDataset as err:
        print(err, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
