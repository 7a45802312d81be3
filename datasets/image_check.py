"""Which images cannot be read, found before they break a run.

- The sampled shots are few: each is decoded in full before training
  (a truncated JPEG has an intact header, and failed in a loader worker
  after the whole training).
- Test splits reach 10^5 images: their headers are checked at the start,
  the result cached per dataset root keyed by every file's size and mtime
  (so a rerun on unchanged files opens none of them); an image whose
  header passes but whose body does not decode is caught by the test
  loader when it reads it (trainers/engine/evaluation.py).
An unreadable image that the dataset does not list as known-broken stops
the run with one line naming it, unless DATASET.SKIP_UNREADABLE is True:
then it is skipped and counted per domain (results.json `skipped_test_images`).
Plain Python and PIL.
"""
import os
from concurrent.futures import ThreadPoolExecutor

from PIL import Image, UnidentifiedImageError

from user_errors import BadFileError

from .files import open_regular
from .image_scan_cache import cached_scan

# PIL's errors for a file that is not a readable image (a FIFO, socket or
# device named like an image is an OSError: files.NotRegularFileError; an
# image of more than twice Image.MAX_IMAGE_PIXELS, a decompression bomb, is
# PIL's DecompressionBombError).
READ_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError,
               Image.DecompressionBombError)


def problem_of(path: str, decode: bool) -> str:
    """Why `path` cannot be read ("" when it can): its header only, or
    (`decode`) every pixel."""
    try:
        with open_regular(path) as f:
            if os.fstat(f.fileno()).st_size == 0:
                return "zero bytes"
            img = Image.open(f)
            if decode:
                img.load()
            else:
                img.size
    except FileNotFoundError:
        return "missing"
    except READ_ERRORS as err:
        return short_problem(err, path)
    return ""


def short_problem(err: Exception, path: str) -> str:
    """PIL's message in one line, without the path (the caller names it)."""
    text = str(err).replace(f" '{path}'", "").replace(path, "the file").strip()
    return text.splitlines()[0] if text else type(err).__name__


def unreadable_error(path: str, problem: str, what: str) -> BadFileError:
    return BadFileError(
        f"{path} cannot be read ({problem}), {what}: replace the file (re-extract the "
        "dataset), or set DATASET.SKIP_UNREADABLE True to skip such images and count "
        "them in results.json")


def header_problems(paths, cache_dir: str = None) -> dict:
    """{path: problem} of the `paths` whose header does not read, cached
    (image_scan_cache.py) by every file's size and mtime."""
    def scan(todo):
        with ThreadPoolExecutor(max_workers=8) as pool:  # file I/O: threads help
            found = list(pool.map(lambda p: problem_of(p, decode=False), todo))
        return {p: why for p, why in zip(todo, found) if why}
    return cached_scan(list(paths), scan, cache_dir)

