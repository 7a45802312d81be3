"""The domains of an ADU dataset, for the launcher, without Dassl or torch:
`domains_of("office_home")` -> ["art", "clipart", "product", "real_world"].

The lists are datasets/domain_lists.py, which the dataset classes use too
(tests/test_datasets_layout.py checks that they agree with the registered
classes). Imported by the launcher's planning (experiments/launch/).
"""


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

