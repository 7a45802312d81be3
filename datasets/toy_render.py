"""The toy benchmark's images: 10 shapes in 4 renderings, drawn offline.

    DATASET.ROOT/toy_domains/<domain>/{train,test}/<class>/<idx>.png

Every image is drawn from its own RNG, seeded by (SEED, domain, class, split,
index), so the tree is the same on every machine and a smaller tree (as the
tests make) is a prefix of the full one. The tree is written on first use,
atomically (into a temporary folder, then renamed), with a marker file that
records the generator version and sizes, so a stale tree is regenerated.

Plain Python (numpy and PIL, no Dassl): the registered dataset
(toy_domains.py), the tiny CLIP's pretraining (tools/pretrain_tiny_clip.py)
and the tests read the same tree through `ensure_toy_domains` and
`read_toy_split`.
"""
import colorsys
import json
import os
import os.path as osp
import shutil
import tempfile

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from user_errors import PathTakenError

from .domain_lists import DOMAINS as DOMAIN_LISTS
from .files import read_class_folders

CLASSES = ["circle", "square", "triangle", "star", "cross",
           "ring", "heart", "arrow", "diamond", "house"]
DOMAINS = DOMAIN_LISTS["toy_domains"]
SPLITS = ["train", "test"]
SEED = 20251008
# Bump whenever a change to the drawing code changes any image.
GENERATOR_VERSION = 1
N_TRAIN, N_TEST, IMAGE_SIZE = 40, 20, 32
SUPERSAMPLE = 4  # draw at 4x, then downsample: anti-aliased edges
MARKER = "GENERATOR.json"


# ----- shapes (unit coordinates, y up) ---------------------------------------------
def _regular(n, radius=1.0, phase=90.0):
    angles = np.deg2rad(phase + 360.0 * np.arange(n) / n)
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def _star():
    outer, inner = _regular(5), _regular(5, 0.42, 90.0 + 36.0)
    return np.stack([outer, inner], axis=1).reshape(-1, 2)


def _heart():
    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    return np.stack([x, y + 3], axis=1) / 17.0


def shape_polygons(name):
    """The outline of a class as [(points [N, 2], is_hole)]."""
    p = np.array
    shapes = {
        "circle": [(_regular(48), False)],
        "ring": [(_regular(48), False), (_regular(48, 0.55), True)],
        "square": [(_regular(4, 1.1, 45.0), False)],
        "triangle": [(_regular(3), False)],
        "star": [(_star(), False)],
        "cross": [(p([(-.3, 1), (.3, 1), (.3, .3), (1, .3), (1, -.3), (.3, -.3),
                      (.3, -1), (-.3, -1), (-.3, -.3), (-1, -.3), (-1, .3),
                      (-.3, .3)]), False)],
        "heart": [(_heart(), False)],
        "arrow": [(p([(-1, .22), (.15, .22), (.15, .62), (1, 0), (.15, -.62),
                      (.15, -.22), (-1, -.22)]), False)],
        "diamond": [(p([(0, 1), (.58, 0), (0, -1), (-.58, 0)]), False)],
        "house": [(p([(-.7, -1), (.7, -1), (.7, .1), (.95, .1), (0, 1),
                      (-.95, .1), (-.7, .1)]), False)],
    }
    return shapes[name]


def place(polygons, rng, size):
    """Random rotation, scale and position, in pixel coordinates (y down)."""
    theta = np.deg2rad(rng.uniform(-30, 30))
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    radius = rng.uniform(0.5, 0.8) * size / 2
    center = size / 2 + rng.uniform(-1, 1, 2) * (size / 2 - radius) * 0.9
    placed = [((pts @ rot.T) * radius * np.array([1, -1]) + center, hole)
              for pts, hole in polygons]
    return placed, center, radius


def shape_mask(placed, size):
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    for pts, hole in placed:
        draw.polygon([tuple(q) for q in pts], fill=0 if hole else 255)
    return np.asarray(mask, dtype=np.float32)[..., None] / 255.0


def draw_outline(draw, pts, colour, width):
    closed = [tuple(q) for q in pts] + [tuple(pts[0])]
    draw.line(closed, fill=colour, width=width, joint="curve")


# ----- colours and textures ------------------------------------------------------
def hsv(h, s, v):
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32) * 255


def smooth_noise(rng, size, cells=4):
    """Low-frequency RGB noise in [-1, 1], [size, size, 3]."""
    coarse = rng.uniform(0, 255, (cells, cells, 3)).astype(np.uint8)
    img = Image.fromarray(coarse).resize((size, size), Image.BICUBIC)
    return np.asarray(img, dtype=np.float32) / 127.5 - 1.0


def brush_strokes(draw, rng, size, colours, count, region=None):
    """Short thick strokes in a dominant direction, coloured from `colours`."""
    direction = rng.uniform(0, np.pi)
    for _ in range(count):
        if region is None:
            start = rng.uniform(0, size, 2)
        else:
            start = region[0] + rng.uniform(-1, 1, 2) * region[1]
        angle = direction + rng.normal(0, 0.35)
        length = rng.uniform(size / 8, size / 3.5)
        end = start + length * np.array([np.cos(angle), np.sin(angle)])
        colour = colours[rng.integers(len(colours))] + rng.normal(0, 14, 3)
        draw.line([tuple(start), tuple(end)], width=int(rng.uniform(size / 18, size / 9)),
                  fill=tuple(np.clip(colour, 0, 255).astype(int)))


# ----- the four renderings -------------------------------------------------------
def render_photo(rng, placed, center, radius, size):
    """Textured gradient background, shaded object with highlight and shadow."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    bg_hue = rng.uniform()
    bg_a = hsv(bg_hue, rng.uniform(0.1, 0.4), rng.uniform(0.35, 0.9))
    bg_b = hsv(bg_hue + rng.uniform(-0.1, 0.1), rng.uniform(0.1, 0.4), rng.uniform(0.35, 0.9))
    g_angle = rng.uniform(0, 2 * np.pi)
    g = ((xx * np.cos(g_angle) + yy * np.sin(g_angle)) / size + 1) / 2
    g = np.clip(g, 0, 1)[..., None]
    background = bg_a * (1 - g) + bg_b * g + 22 * smooth_noise(rng, size, 6)

    light = rng.uniform(0, 2 * np.pi)
    ldir = np.array([np.cos(light), np.sin(light)])
    shadow = shape_mask([(pts - ldir * radius * 0.15, hole) for pts, hole in placed], size)
    shadow = np.asarray(Image.fromarray((shadow[..., 0] * 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(size / 28)), dtype=np.float32)[..., None] / 255.0
    background = background * (1 - 0.45 * shadow)

    colour = hsv(rng.uniform(), rng.uniform(0.4, 0.9), rng.uniform(0.5, 0.95))
    proj = ((xx - center[0]) * ldir[0] + (yy - center[1]) * ldir[1]) / radius
    shade = np.clip(1.0 + 0.4 * proj, 0.45, 1.4)[..., None]
    hx, hy = center + ldir * radius * 0.4
    spot = np.exp(-((xx - hx) ** 2 + (yy - hy) ** 2) / (2 * (radius * 0.25) ** 2))[..., None]
    obj = colour * shade * (1 - 0.5 * spot) + 255 * 0.5 * spot

    mask = shape_mask(placed, size)
    img = background * (1 - mask) + obj * mask
    img = img * rng.uniform(0.75, 1.15) + rng.normal(0, 4, img.shape)
    return img


def render_sketch(rng, placed, center, radius, size):
    """Dark, jittery outline strokes on light paper; no fill."""
    paper = hsv(rng.uniform(0.08, 0.16), rng.uniform(0.0, 0.12), rng.uniform(0.9, 0.98))
    img = Image.fromarray(np.clip(paper + rng.normal(0, 5, (size, size, 3)), 0, 255)
                          .astype(np.uint8))
    draw = ImageDraw.Draw(img)
    ink = int(rng.uniform(20, 90))
    for _ in range(2):  # two passes of the pencil, each slightly off
        for pts, _hole in placed:
            closed = np.concatenate([pts, pts[:1]])
            dense = np.concatenate([np.linspace(a, b, max(2, int(np.linalg.norm(b - a) / 4)),
                                                endpoint=False)
                                    for a, b in zip(closed[:-1], closed[1:])])
            wobble = np.cumsum(rng.normal(0, size / 150, dense.shape), axis=0)
            wobble -= np.linspace(0, 1, len(dense))[:, None] * wobble[-1]
            dense = dense + wobble + rng.normal(0, size / 90, 2)
            draw_outline(draw, dense, (ink, ink, ink), max(1, int(size / rng.uniform(28, 40))))
    return np.asarray(img, dtype=np.float32)


def render_clipart(rng, placed, center, radius, size):
    """Flat saturated fill, thick black outline, plain background."""
    if rng.uniform() < 0.5:
        bg = np.array([255, 255, 255], dtype=np.float32)
    else:
        bg = hsv(rng.uniform(), rng.uniform(0.1, 0.3), 1.0)
    img = Image.new("RGB", (size, size), tuple(bg.astype(int)))
    draw = ImageDraw.Draw(img)
    fill = tuple(hsv(rng.uniform(), rng.uniform(0.75, 1.0), rng.uniform(0.85, 1.0)).astype(int))
    for pts, hole in placed:
        draw.polygon([tuple(q) for q in pts], fill=tuple(bg.astype(int)) if hole else fill)
    for pts, _hole in placed:
        draw_outline(draw, pts, (10, 10, 10), int(size / 14))
    return np.asarray(img, dtype=np.float32)


def render_painting(rng, placed, center, radius, size):
    """Brush-stroke texture in a small palette, blurred."""
    base_hue = rng.uniform()
    palette = [hsv(base_hue + rng.uniform(-0.15, 0.15), rng.uniform(0.2, 0.6),
                   rng.uniform(0.4, 0.9)) for _ in range(3)]
    canvas = Image.new("RGB", (size, size), tuple(palette[0].astype(int)))
    brush_strokes(ImageDraw.Draw(canvas), rng, size, palette, 70)

    colour = hsv(base_hue + rng.uniform(0.3, 0.7), rng.uniform(0.5, 0.85), rng.uniform(0.5, 0.95))
    layer = Image.new("RGB", (size, size), tuple(colour.astype(int)))
    brush_strokes(ImageDraw.Draw(layer), rng, size, [colour, colour * 0.8,
                  np.minimum(colour * 1.2, 255)], 40, region=(center, radius))
    mask = shape_mask(placed, size)
    img = np.asarray(canvas, dtype=np.float32) * (1 - mask) + \
        np.asarray(layer, dtype=np.float32) * mask
    img = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    return np.asarray(img.filter(ImageFilter.GaussianBlur(size / 70)), dtype=np.float32)


RENDERERS = {"photo": render_photo, "sketch": render_sketch,
             "clipart": render_clipart, "painting": render_painting}


def render_image(classname: str, domain: str, split: str, index: int,
                 image_size: int = IMAGE_SIZE) -> Image.Image:
    """One image of the benchmark; a pure function of its arguments."""
    rng = np.random.default_rng([SEED, DOMAINS.index(domain), CLASSES.index(classname),
                                 SPLITS.index(split), index])
    size = image_size * SUPERSAMPLE
    placed, center, radius = place(shape_polygons(classname), rng, size)
    pixels = RENDERERS[domain](rng, placed, center, radius, size)
    img = Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8))
    return img.resize((image_size, image_size), Image.LANCZOS)


# ----- the tree on disk ------------------------------------------------------------
def generator_spec(n_train=N_TRAIN, n_test=N_TEST, image_size=IMAGE_SIZE):
    return {"version": GENERATOR_VERSION, "n_train": n_train, "n_test": n_test,
            "image_size": image_size}


def read_marker(dataset_dir):
    try:
        with open(osp.join(dataset_dir, MARKER)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def generate_toy_domains(out_dir, n_train=N_TRAIN, n_test=N_TEST, image_size=IMAGE_SIZE):
    """Write the whole tree into `out_dir`; the marker file comes last."""
    for domain in DOMAINS:
        for split, count in (("train", n_train), ("test", n_test)):
            for classname in CLASSES:
                folder = osp.join(out_dir, domain, split, classname)
                os.makedirs(folder, exist_ok=True)
                for i in range(count):
                    render_image(classname, domain, split, i, image_size).save(
                        osp.join(folder, f"{i:03d}.png"))
    with open(osp.join(out_dir, MARKER), "w") as f:
        json.dump(generator_spec(n_train, n_test, image_size), f)


def ensure_toy_domains(dataset_dir, n_train=N_TRAIN, n_test=N_TEST, image_size=IMAGE_SIZE):
    """Generate the tree at `dataset_dir` unless an up-to-date one is there."""
    spec = generator_spec(n_train, n_test, image_size)
    found = read_marker(dataset_dir)
    if found == spec:
        return dataset_dir
    if osp.exists(dataset_dir) and found is None:
        raise PathTakenError(
            f"{dataset_dir} exists but was not written by the toy_domains generator "
            f"(no {MARKER}); move it away or point DATASET.ROOT elsewhere.")
    print(f"{'Regenerating the stale' if found else 'Generating the'} toy_domains "
          f"benchmark in {dataset_dir}")
    parent = osp.dirname(osp.abspath(dataset_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".toy_domains-", dir=parent)
    try:
        generate_toy_domains(tmp, n_train, n_test, image_size)
        if found is not None:  # move the stale tree aside, then drop it
            os.rename(dataset_dir, tmp + "-stale")
        try:
            os.rename(tmp, dataset_dir)
        except OSError:
            if read_marker(dataset_dir) != spec:  # not a concurrent twin of ours
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(tmp + "-stale", ignore_errors=True)
    return dataset_dir


def read_toy_split(dataset_dir, split):
    """[(path, label, domain_name, classname)] of a split, every domain."""
    return read_class_folders({d: osp.join(dataset_dir, d, split) for d in DOMAINS}, CLASSES)
