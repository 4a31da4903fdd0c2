"""An `--out` folder -> permission to write it (or findings saying why not), a lock, and the manifest.

The rules (README, "Output safety"): `--out` must be a new folder, an empty folder, or a folder an
earlier trialbridge run wrote, and the latter only with `--force`. An earlier output is recognised
by its manifest, `trialbridge-manifest.sha256` (sha256sum format: `<sha256>  <relative path>` per
file, sorted), and only when every file in the folder is listed there with its checksum: a folder
holding anything else (a user's file, an edited output) is never replaced. `--out` equal to, inside
or containing an input is refused. Runs into one `--out` are serialised by an exclusive lock on
`.<name>.lock` beside it: a second run is refused while the first holds it. Under the lock, the
`.<name>.partial-*` / `.<name>.old-*` folders left beside `--out` by a run that was killed (SIGKILL,
power loss) are removed: no live run can own them, since every run into `--out` holds the lock.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from trialbridge.converters.processes import on_interrupt
from trialbridge.schemas.findings import Finding, finding

MANIFEST = "trialbridge-manifest.sha256"


class OutputRefused(Exception):
    """`--out` may not be written: the findings say why (exit 2)."""

    def __init__(self, findings: list[Finding]):
        super().__init__("; ".join(f.message for f in findings))
        self.findings = findings


def _real(path: Path) -> Path:
    return Path(os.path.realpath(Path(path).expanduser()))


def overlap(out: Path, inputs: Sequence[Path]) -> list[Finding]:
    """`--out` equal to, inside or containing an input (symbolic links resolved)."""
    target = _real(out)
    problems = []
    for source in inputs:
        real = _real(source)
        relation = ("is" if target == real else "is inside" if real in target.parents
                    else "contains" if target in real.parents else "")
        if relation:
            problems.append(finding("OUT-OVERLAPS-INPUT", str(out), [str(out), str(source)],
                                    out=str(out), relation=relation, input=str(source)))
    return problems


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(folder: Path) -> list[str]:
    """Every entry under `folder` that is not a folder, as sorted POSIX relative paths."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in names:
            found.append((Path(root) / name).relative_to(folder).as_posix())
    return sorted(found)


def write_manifest(folder: Path) -> None:
    """List every file of a finished output with its sha256 (byte-identical for identical outputs)."""
    lines = [f"{file_digest(folder / name)}  {name}\n" for name in _files(folder) if name != MANIFEST]
    (folder / MANIFEST).write_text("".join(lines), encoding="utf-8")


def _read_manifest(folder: Path) -> dict[str, str]:
    """The manifest of `folder`: file name -> sha256 (OSError, UnicodeDecodeError or ValueError when unreadable)."""
    return dict(reversed(line.split("  ", 1)) for line in
                (folder / MANIFEST).read_text(encoding="utf-8").splitlines() if line)


def _manifest_problem(folder: Path) -> str:
    """"" when `folder` is exactly what its manifest lists, else what differs."""
    try:
        listed = _read_manifest(folder)
    except (OSError, UnicodeDecodeError, ValueError):
        return f"its {MANIFEST} cannot be read"
    present = [name for name in _files(folder) if name != MANIFEST]
    extra = sorted(set(present) - set(listed))
    if extra:
        return f"it holds {len(extra)} file(s) no trialbridge run wrote, e.g. {extra[0]!r}"
    changed = [name for name in present if file_digest(folder / name) != listed[name]]
    if changed:
        return f"{len(changed)} file(s) changed since trialbridge wrote them, e.g. {changed[0]!r}"
    return ""


def manifest_findings(folder: Path) -> list[Finding]:
    """A finished output checked against its manifest: one error per listed file that is missing or whose bytes
    changed since trialbridge wrote it (a truncated bundle, a define.xml replaced by an HTML page). A folder
    without a manifest gives none: there is nothing to check it against."""
    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        return []
    try:
        listed = sorted(_read_manifest(folder).items())
    except (OSError, UnicodeDecodeError, ValueError):
        return [finding("OUTPUT-FILE-CHANGED", MANIFEST, [MANIFEST], file=MANIFEST, problem="cannot be read")]
    if not listed and any(name != MANIFEST for name in _files(folder)):
        return [finding("OUTPUT-FILE-CHANGED", MANIFEST, [MANIFEST], file=MANIFEST,
                        problem="lists no file while the folder holds some (emptied)")]
    problems = []
    for name, digest in listed:
        path = folder / name
        if not path.is_file():
            problems.append((name, "is missing"))
            continue
        try:
            actual = file_digest(path)
        except OSError as error:
            problems.append((name, f"cannot be read ({error.strerror})"))
            continue
        if actual != digest:
            problems.append((name, f"has changed (sha256 {actual[:12]}..., listed {digest[:12]}...)"))
    return [finding("OUTPUT-FILE-CHANGED", name, [name], file=name, problem=problem) for name, problem in problems]


def _non_utf8_byte(path: Path) -> str:
    """The first byte of `path` that is not UTF-8 text, as 0xNN ("" when all is): such a name (bytes of another
    encoding, kept by Python as lone surrogates) cannot be written into the JSON and XML outputs."""
    try:
        str(path).encode("utf-8")
        return ""
    except UnicodeEncodeError as error:
        return f"0x{ord(str(path)[error.start]) & 0xFF:02X}"


def out_problems(out: Path, inputs: Sequence[Path] = (), force: bool = False) -> list[Finding]:
    """Why `out` may not be written now ([] when it may); a path the system cannot even look at (a name over
    255 bytes, a loop of links) is OUT-UNWRITABLE; a path, `out`'s or an input's, that is not UTF-8 text is
    PATH-NOT-UTF8."""
    not_text = [finding("PATH-NOT-UTF8", str(path), [str(path)], path=str(path), byte=byte)
                for path, byte in ((p, _non_utf8_byte(p)) for p in (out, *inputs)) if byte]
    if not_text:
        return not_text
    try:
        return _out_problems(Path(out), inputs, force)
    except OSError as error:
        return [finding("OUT-UNWRITABLE", str(out), [str(out)], out=str(out),
                        reason=os.strerror(error.errno) if error.errno else str(error))]


def _out_problems(out: Path, inputs: Sequence[Path], force: bool) -> list[Finding]:
    problems = overlap(out, inputs)
    if problems:
        return problems
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        return [finding("OUT-NOT-FOLDER", str(out), [str(out)], out=str(out))]
    if not out.exists() or not any(out.iterdir()):
        return []
    if not (out / MANIFEST).is_file():
        return [finding("OUT-NOT-OURS", str(out), [str(out)], out=str(out), manifest=MANIFEST)]
    problem = _manifest_problem(out)
    if problem:
        return [finding("OUT-CHANGED", str(out), [str(out)], out=str(out), problem=problem)]
    if not force:
        return [finding("OUT-EXISTS", str(out), [str(out)], out=str(out))]
    return []


def _lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


def _take_lock(path: Path) -> int | None:
    """An fd holding the exclusive lock on `path`, or None when another process holds it.

    The file is unlinked by its holder on release; a process that opened it just before then finds
    its inode gone after locking, and retries on the new file.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)


def _release(path: Path, fd: int) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    os.close(fd)


def remove_stale(out: Path) -> list[Path]:
    """Remove the work folders of dead runs beside `out` (call only while holding the lock)."""
    stale = sorted(p for pattern in (f".{out.name}.partial-*", f".{out.name}.old-*") for p in out.parent.glob(pattern))
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def cleanup_after(out: Path, pid: int) -> None:
    """What run `pid`, killed outright, left beside `out`: its work folder, and the lock file if free."""
    out = Path(out).absolute()
    for path in out.parent.glob(f".{out.name}.partial-{pid}-*"):
        shutil.rmtree(path, ignore_errors=True)
    lock = _lock_path(out)
    if lock.exists():
        fd = _take_lock(lock)
        if fd is not None:
            _release(lock, fd)


def _created_parents(out: Path) -> list[Path]:
    """The missing ancestors of `out`, outermost first (created now, removed again if nothing is published)."""
    missing = [p for p in reversed(out.parents) if not p.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    return missing


@contextmanager
def claim_output(out: Path, inputs: Sequence[Path] = (), force: bool = False) -> Iterator[None]:
    """Hold `out` for one run: refuse (OutputRefused) when the rules above forbid it or another run holds it.

    Within the block the caller writes through `atomic_output_dir(out)`. If nothing was published, the
    parent folders this made are removed again.
    """
    out = Path(out).absolute()
    problems = out_problems(out, inputs, force)
    if problems:
        raise OutputRefused(problems)
    try:
        made = _created_parents(out)
        lock = _lock_path(out)
        fd = _take_lock(lock)
    except OSError as error:
        raise OutputRefused([finding("OUT-UNWRITABLE", str(out), [str(out)], out=str(out),
                                     reason=os.strerror(error.errno) if error.errno else str(error))]) from None
    if fd is None:
        holder = lock.read_text(errors="replace").strip() if lock.exists() else "?"
        raise OutputRefused([finding("OUT-BUSY", str(out), [str(out)], out=str(out), pid=holder or "?")])
    try:
        with on_interrupt(lambda: _release(lock, fd)):
            remove_stale(out)
            problems = out_problems(out, inputs, force)  # again, under the lock: another run may have published
            if problems:
                raise OutputRefused(problems)
            yield
    finally:
        _release(lock, fd)
        if not out.exists():
            for parent in reversed(made):
                try:
                    parent.rmdir()
                except OSError as error:
                    if error.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                        raise
                    break
