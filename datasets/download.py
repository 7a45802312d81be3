"""Fetch a dataset archive from Google Drive and unpack it so that a crash
can never leave a half-extracted folder that looks complete.

The steps, each safe to interrupt and re-run:
1. gdown downloads `ROOT/<archive>` with resume (it keeps the partial bytes
   in its own temporary file and only names the archive when it is whole);
2. the archive is checked: its size where we know it, and the CRC of every
   member of the zip; a bad archive is deleted so the next run fetches it anew;
3. it is extracted into `ROOT/.<folder>.partial` (cleared first, so a crash
   during extraction simply restarts it), the expected files are checked,
   and the folder is renamed to `ROOT/<folder>` in one atomic step.
"""
import os
import os.path as osp
import shutil
import zipfile

import gdown

from user_errors import DownloadError


def gdrive_url(file_id: str) -> str:
    return f"https://drive.google.com/uc?id={file_id}"


def fetch_archive(file_id: str, archive: str, expected_size=None):
    """Download `archive` from Google Drive (resuming) and check it."""
    os.makedirs(osp.dirname(archive), exist_ok=True)
    manual = (f"download {gdrive_url(file_id)} by hand and save it as {archive}, "
              "then run again")
    try:
        gdown.download(id=file_id, output=archive, quiet=False, resume=True)
    except Exception as err:  # gdown raises many types (quota, network, HTML page)
        raise DownloadError(f"Download of {osp.basename(archive)} failed ({err}); "
                            f"{manual}.") from err
    if not osp.isfile(archive):
        raise DownloadError(f"Download of {osp.basename(archive)} produced no file; "
                            f"{manual}.")
    check_archive(archive, expected_size, manual)


def check_archive(archive: str, expected_size, manual: str):
    """Size (where known) and zip CRCs; a bad archive is removed before failing."""
    problem = None
    size = osp.getsize(archive)
    if expected_size is not None and size != expected_size:
        problem = f"has {size:,} bytes, expected {expected_size:,}"
    else:
        try:
            with zipfile.ZipFile(archive) as zf:
                bad = zf.testzip()
            if bad is not None:
                problem = f"has a corrupt member {bad}"
        except zipfile.BadZipFile as err:
            problem = f"is not a valid zip ({err})"
    if problem:
        os.remove(archive)
        raise DownloadError(f"{archive} {problem}; it was deleted, run again to "
                            f"download it anew or {manual}.")


def find_extracted(tmp: str, folder: str, markers):
    """The extracted folder holding every marker path: the archive may hold
    `<folder>/...`, a single other top folder, or the files themselves."""
    tops = [osp.join(tmp, f) for f in os.listdir(tmp)
            if not f.startswith((".", "__MACOSX")) and osp.isdir(osp.join(tmp, f))]
    candidates = [osp.join(tmp, folder), tmp] + (tops if len(tops) == 1 else [])
    for cand in candidates:
        if all(osp.exists(osp.join(cand, m)) for m in markers):
            return cand
    return None


def extract_atomically(archive: str, target: str, markers):
    """Unpack `archive` so that `target` appears complete or not at all."""
    parent, folder = osp.split(target)
    tmp = osp.join(parent, f".{folder}.partial")
    if osp.exists(tmp):
        print(f"Removing an interrupted extraction at {tmp}")
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    print(f"Extracting {archive} ...")
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp)
    found = find_extracted(tmp, folder, markers)
    if found is None:
        shutil.rmtree(tmp)
        raise DownloadError(
            f"{archive} does not contain the expected {folder}/ with {list(markers)}; "
            f"delete it and run again, or unpack the dataset by hand to {target}."
        )
    if found == tmp:
        os.rename(tmp, target)
    else:
        os.rename(found, target)
        shutil.rmtree(tmp)
    print(f"Dataset ready at {target}")


def ensure_dataset(file_id: str, target: str, archive_name: str, markers,
                   expected_size=None):
    """Make `target` exist, downloading and extracting its archive if needed.

    `markers` are paths relative to `target` that a complete copy contains.
    The archive is kept next to `target`; delete it by hand to save space.
    """
    if osp.isdir(target):
        return target
    archive = osp.join(osp.dirname(target), archive_name)
    print(f"{target} not found; fetching {archive_name} from Google Drive")
    fetch_archive(file_id, archive, expected_size)
    extract_atomically(archive, target, markers)
    return target
