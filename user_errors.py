"""Errors that the user can fix, as opposed to bugs.

The code raises these where it knows what went wrong and how to fix it: a
config value or name, a missing or damaged file, a failed download. Their
message names the problem and the fix, so train.py prints it as one line
(`train.py: error: ...`, exit status 2) without a traceback; every other
exception is a bug and keeps its traceback.

Each class also derives from the builtin error it replaces (ValueError,
FileNotFoundError, ...), so that code catching those still catches them.
Plain Python, importable by the datasets, the trainers' modules (which never
import Dassl) and the tools alike.
"""


class UserError(Exception):
    """A problem the user can fix; the message names it and the fix."""


class ConfigError(UserError, ValueError):
    """A config value, trainer/dataset/domain name or command-line argument is wrong."""


class DataError(UserError, ValueError):
    """Dataset files are damaged or disagree (split files, labels, class folders)."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the run reads is not there (data, checkpoint, weights, config)."""


class PathTakenError(UserError, FileExistsError):
    """A path the run would write holds something else."""


class BadFileError(UserError, RuntimeError):
    """A file is there but cannot be used (corrupt, truncated, from another config)."""


class DownloadError(UserError, RuntimeError):
    """A download failed or gave an incomplete archive."""
