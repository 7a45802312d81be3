"""The domains of every ADU dataset, by config name (DATASET.NAME), in the
order whose index is an image's domain label.

The dataset classes take their `domains` from here, and the launcher
(experiments/launch/) reads it without Dassl or torch to check FORGET and
plan a sweep's combinations. Plain Python: anything may import it.
"""
DOMAINS = {
    "domainnet": ["clipart", "infograph", "painting", "quickdraw", "real", "sketch"],
    "imagenet": ["real", "sketch"],
    "mini_domainnet": ["clipart", "painting", "real", "sketch"],
    "office_home": ["art", "clipart", "product", "real_world"],
    "pacs": ["photo", "art_painting", "cartoon", "sketch"],
    "toy_domains": ["photo", "sketch", "clipart", "painting"],
}
