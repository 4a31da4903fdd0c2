"""Whole-or-nothing output folders: write into a temporary folder beside the target, then move it into place."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class NotPublished(Exception):
    """Raised inside `atomic_output_dir` to abandon the work folder: nothing is published, nothing is left."""


@contextmanager
def atomic_output_dir(target: Path) -> Iterator[Path]:
    """Yield an empty work folder beside `target`; on success it replaces `target`, on any error it vanishes.

    The work folder lives in the same parent as `target`, so the final move is a rename on one file
    system. An existing `target` is replaced only once the new content is complete.
    """
    target = Path(target).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(work, 0o777 & ~umask)  # mkdtemp makes it private; the output is an ordinary folder
    try:
        yield work
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    old: Path | None = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(work, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
