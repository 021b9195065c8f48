"""The one error type users see: a field, the value received, and what is allowed."""

from __future__ import annotations

import errno
from typing import Any


class DlexpError(Exception):
    """An error with a message meant for the user, printed as one line without a traceback."""

    exit_code = 2  # the user can fix the command line or a file


class WriteError(DlexpError):
    """A file could not be written (disk full, read-only, quota): the run stops where it is and
    ``dlexp train resume=DIR`` continues it once there is room."""

    exit_code = 1

    def __init__(self, err: OSError, folder) -> None:
        where = err.filename or folder
        super().__init__(f"{where}: could not write ({err.strerror or err}); free space or fix the folder, "
                         f"then continue with: dlexp train resume={folder}")


# errno values that mean "the disk cannot take it", not a bug in dlexp.
DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG, errno.EIO}


def is_disk_error(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in DISK_ERRNOS

class ConfigError(DlexpError):
    """A config value that is wrong, with the field, the value and what is allowed.

    Example:
        >>> str(ConfigError("trainer.epochs", -1, "an integer >= 1"))
        'trainer.epochs: got -1; allowed: an integer >= 1'
    """

    def __init__(self, field: str, value: Any, allowed: str, kind: str = "got") -> None:
        self.field, self.value, self.allowed, self.kind = field, value, allowed, kind
        super().__init__(f"{field}: {kind} {value!r}; allowed: {allowed}")

    def under(self, prefix: str) -> "ConfigError":
        """The same error with the group name in front of the field."""
        return ConfigError(f"{prefix}.{self.field}", self.value, self.allowed, self.kind)


class DataError(DlexpError):
    """A data file that is missing, unreadable or malformed, or data that cannot be fetched."""
