"""Writing the analyses' figures: never a half-written image, and the t-SNE
of the test embeddings before and after unlearning."""
import os
import os.path as osp

import numpy as np


def save_figure(fig, path: str):
    """Written beside `path` and renamed over it: never a half-written image."""
    import matplotlib.pyplot as plt
    tmp = osp.join(osp.dirname(path), f".{osp.basename(path)}.{os.getpid()}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)


def tsne_figure(test, domains, forget, title, path, max_points, seed):
    from sklearn.manifold import TSNE
    import matplotlib.pyplot as plt
    n = len(test["run"].domain)
    keep = np.sort(np.random.default_rng(seed).permutation(n)[:max_points])
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    colours = plt.get_cmap("tab10")
    for ax, (name, label) in zip(axes, (("zero_shot", "zero-shot CLIP (before)"),
                                        ("run", "after unlearning"))):
        feats = test[name].features.numpy()[keep]
        dom = test[name].domain.numpy()[keep]
        points = TSNE(n_components=2, perplexity=min(30.0, (len(keep) - 1) / 3.0),
                      init="pca", random_state=seed).fit_transform(feats)
        for d, dname in enumerate(domains):
            m = dom == d
            gone = dname in forget
            ax.scatter(points[m, 0], points[m, 1], s=14 if gone else 8, c=[colours(d % 10)],
                       marker="x" if gone else "o",
                       label=f"{dname} (forget)" if gone else dname)
        ax.set_title(label)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=8, markerscale=1.5)
    fig.suptitle(f"t-SNE of the test embeddings ({len(keep)} images): {title}")
    fig.tight_layout()
    save_figure(fig, path)
