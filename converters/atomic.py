"""Whole-or-nothing output folders: write into a temporary folder beside the target, then move it into place.

The work folder `.<name>.partial-<pid>-<random>` lives in the target's parent, so publishing is a
rename on one file system. Publishing lists every file with its checksum in the manifest
(`converters/outdir.py`), then: a missing or empty target is replaced by one `rename`; an existing
one is swapped with the work folder in one atomic `renameat2(RENAME_EXCHANGE)` (Linux) and the old
content removed, so at every instant `--out` is either the old output or the new one. Where the
exchange is not available, the old folder is first renamed aside (`.<name>.old-<pid>`).
Whether the target may be replaced at all is decided before, by `outdir.claim_output`.
"""
from __future__ import annotations

import ctypes
import errno
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from trialbridge.converters.outdir import write_manifest
from trialbridge.converters.processes import on_interrupt

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


class NotPublished(Exception):
    """Raised inside `atomic_output_dir` to abandon the work folder: nothing is published, nothing is left."""


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False when the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def publish(work: Path, target: Path) -> None:
    """Put the finished `work` folder at `target`, replacing what is there, never leaving a half state."""
    try:
        os.rename(work, target)          # target missing or an empty folder: one atomic rename
        return
    except OSError as error:
        if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    if _exchange(work, target):
        shutil.rmtree(work, ignore_errors=True)   # `work` now holds the previous output
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.replace(target, old)
    os.replace(work, target)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_output_dir(target: Path) -> Iterator[Path]:
    """Yield an empty work folder beside `target`; on success it replaces `target`, on any error it vanishes.

    An existing `target` is replaced only once the new content is complete and listed in the manifest.
    """
    target = Path(target).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-{os.getpid()}-", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(work, 0o777 & ~umask)  # mkdtemp makes it private; the output is an ordinary folder
    try:
        with on_interrupt(lambda: shutil.rmtree(work, ignore_errors=True)):
            yield work
            write_manifest(work)
        publish(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
