"""OS errors the user can fix, as one line naming the path, the cause and the fix.

A full disk, a size limit, a read-only or unwritable folder, or a file or
dangling link where a folder should be used to end train.py in a raw
traceback (from os.makedirs, or torch's `[enforce fail at
inline_container.cc] unexpected pos` when a checkpoint write fails).
Every file a run writes is written atomically (files.atomic_write), so the
older checkpoint and results.json are intact and the same command resumes
once the cause is fixed; the line says so. Plain Python.
"""
import errno
import os
import os.path as osp

# errno -> (cause, fix) of the failures that are the machine's, not a bug's.
CAUSES = {
    errno.ENOSPC: ("no space left on the device", "free some space"),
    errno.EDQUOT: ("the disk quota is exceeded", "free some space or raise the quota"),
    errno.EFBIG: ("the file is larger than this process may write (a size limit, "
                  "`ulimit -f`)", "raise the limit"),
    errno.EROFS: ("the file system is read-only", "use a writable --output-dir"),
    errno.EACCES: ("permission denied", "use a folder you may write to (--output-dir)"),
    errno.EPERM: ("operation not permitted", "use a folder you may write to (--output-dir)"),
    errno.ENOTDIR: ("a file is where a folder should be", "move the file or use another "
                    "--output-dir"),
    errno.EEXIST: ("something that is no folder is in the way", "move it or use another "
                   "--output-dir"),
    errno.EISDIR: ("a folder is where a file should be", "move the folder away"),
    errno.ELOOP: ("a symbolic link loops", "fix the link or use another --output-dir"),
}


def os_error_line(err: OSError, path: str = "", resumes: bool = True):
    """The one-line message of an OSError the user can fix, or None for any
    other (a bug keeps its traceback). `resumes`: say that the written files
    are intact and the command resumes (not for a folder never made)."""
    if not isinstance(err, OSError) or err.errno not in CAUSES:
        return None
    cause, fix = CAUSES[err.errno]
    where = err.filename or path
    if where and osp.islink(where) and not osp.exists(where):
        cause, fix = (f"it is a symbolic link to {os.readlink(where)}, which does not "
                      "exist", "create the target or remove the link")
    resume = ("; files already written are intact, and the same command resumes "
              "from the last checkpoint") if resumes else ""
    return f"cannot write {where or 'a file'}: {cause}; {fix}{resume}"


def os_error_of_save(err: RuntimeError, path: str):
    """The OSError behind torch.save's RuntimeError for a failed write
    (torch reports `unexpected pos`; the file object's error is the context),
    with the checkpoint's path; None when there is none."""
    cause = err.__context__
    if isinstance(cause, OSError) and cause.errno in CAUSES:
        return OSError(cause.errno, cause.strerror, path)
    return None
