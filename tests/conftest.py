"""Shared fixtures: tiny CLIP models (random weights) and their checkpoint files."""
import os
import sys
import tempfile

# Dassl imports wilds, whose `outdated` check would try the network.
os.environ.setdefault("OUTDATED_IGNORE", "1")
# The test-split scan cache (datasets/image_scan_cache.py) of the fake
# datasets goes to a folder of this session, not ~/.cache/adu.
os.environ.setdefault("ADU_CACHE_DIR", tempfile.mkdtemp(prefix="adu_cache_"))

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from trainers.modules.tiny_clip import build_clip, save_clip_archive  # noqa: E402

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def tiny_clip():
    """A fresh tiny CLIP (12 vision blocks of width 64, 32 px) with fixed weights."""
    torch.manual_seed(0)
    return build_clip("tiny")


@pytest.fixture(scope="session")
def tiny_clip_file(tmp_path_factory):
    """A tiny CLIP saved in OpenAI's checkpoint format (TorchScript archive)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("clip") / "tiny_clip.pt"
    save_clip_archive(build_clip("tiny"), str(path))
    return str(path)


@pytest.fixture(scope="session")
def tiny_resnet_clip_file(tmp_path_factory):
    """A tiny ResNet CLIP checkpoint, for the 'needs a ViT' errors."""
    torch.manual_seed(0)
    model = build_clip("tiny", vision_layers=(1, 1, 1, 1), vision_width=64,
                       image_resolution=64)
    path = tmp_path_factory.mktemp("clip") / "tiny_rn_clip.pt"
    save_clip_archive(model, str(path))
    return str(path)


@pytest.fixture(scope="session")
def office_home_root(tmp_path_factory):
    """A tiny Office-Home tree: 3 classes, 3 train and 2 test images per pair."""
    from fake_data import make_office_home
    root = tmp_path_factory.mktemp("office_home_data")
    make_office_home(root, num_classes=3, train_per_pair=3, val_per_pair=2)
    return root


@pytest.fixture(scope="session")
def toy_data_root(tmp_path_factory):
    """DATASET.ROOT holding the full-size toy benchmark, generated once."""
    from datasets.toy_render import ensure_toy_domains
    root = tmp_path_factory.mktemp("toy_data")
    ensure_toy_domains(str(root / "toy_domains"))
    return root
