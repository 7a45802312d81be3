"""The domains of every ADU dataset, by config name (DATASET.NAME), in the
order whose index is an image's domain label.

The dataset classes take their `domains` from here, and the launcher
(experiments/launch/) reads it without Dassl or torch to check FORGET and
plan a sweep's combinations. Plain Python: anything may import it. `check_forget_domains` checks
DATASET.FORGET_DOMAINS against them (train.py asks before torch is imported).
"""
from user_errors import ConfigError

DOMAINS = {
    "domainnet": ["clipart", "infograph", "painting", "quickdraw", "real", "sketch"],
    "imagenet": ["real", "sketch"],
    "mini_domainnet": ["clipart", "painting", "real", "sketch"],
    "office_home": ["art", "clipart", "product", "real_world"],
    "pacs": ["photo", "art_painting", "cartoon", "sketch"],
    "toy_domains": ["photo", "sketch", "clipart", "painting"],
}


def check_forget_domains(forget, domains, dataset: str):
    """Validate DATASET.FORGET_DOMAINS; return it as a list of names in domain order."""
    if isinstance(forget, str):
        forget = [forget]
    forget = [str(d) for d in forget]
    if not forget:
        raise ConfigError(
            f"No forget domain given for {dataset}. Set DATASET.FORGET_DOMAINS "
            f"(or --forget-domains) to one or more of {list(domains)}."
        )
    unknown = [d for d in forget if d not in domains]
    if unknown:
        raise ConfigError(
            f"Unknown domain {unknown} for {dataset}; valid domains are "
            f"{list(domains)}."
        )
    if set(forget) == set(domains):
        raise ConfigError(
            f"All domains of {dataset} are set to be forgotten ({list(domains)}); "
            "at least one domain must be memorised. Remove one from "
            "DATASET.FORGET_DOMAINS."
        )
    return sorted(set(forget), key=list(domains).index)
