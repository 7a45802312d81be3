"""The paper's row and column order of methods and datasets; other names
follow alphabetically."""

METHOD_ORDER = ["ZeroshotCLIP", "LPPlusPlusADU", "CLIPFitADU", "BBFADU", "CoOpADU",
                "MaPLeADU", "ADU-Baseline", "ADU-InstaPG-only", "ADU-DDL-only",
                "ADU-DDL-CE-only", "ADU-DDL-MMD-only", "ADU", "ADU-pseudo", "ADU-soft"]
DATASET_ORDER = ["imagenet", "office_home", "mini_domainnet", "domainnet", "pacs"]


def order_key(order):
    return lambda name: (order.index(name) if name in order else len(order), name)


by_method = order_key(METHOD_ORDER)
by_dataset = order_key(DATASET_ORDER)
