"""Where a run writes its files, and with which permissions: one run, one outcome.

- `StagedMonth`: the month's workbooks are written into a staging folder inside `--out`
  (`OUT/.dibao-staging-<run id>/YYYY-MM/`), while the run's DuckDB transaction is still
  open. Once every workbook exists, `publish()` swaps the staged folder with `OUT/YYYY-MM`
  (one `renameat2(RENAME_EXCHANGE)` where the kernel has it, else two renames), and only
  then does the run commit. If the commit fails, `undo()` swaps them back; `cleanup()`
  removes the staging folder (with the previous month's workbooks in it) once committed.
  A run killed before the swap leaves only a staging folder, which the next run on the
  same `--out` removes (`remove_stale_staging`).
- `private_files()`: files and folders the run creates are owner-only (umask 077) unless
  the operator shares them with the group (`--group-read`: umask 027).
- `spill_folder()`: DuckDB's spill folder `<db>.tmp/` is owner-only, and removed at the
  start of a run (what a crashed run left) and at its end.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from connectors.errors import DibaoError

log = logging.getLogger("dibao")

STAGING_PREFIX = ".dibao-staging-"
OWNER_ONLY_UMASK = 0o077
GROUP_READ_UMASK = 0o027


class OutputNotWritable(DibaoError):
    """`--out` (or the month's folder in it) cannot hold the run's workbooks."""


def umask_for(group_read: bool) -> int:
    return GROUP_READ_UMASK if group_read else OWNER_ONLY_UMASK


@contextmanager
def private_files(group_read: bool = False) -> Iterator[None]:
    """Create every file and folder of the block owner-only (or group-readable), then restore the umask."""
    previous = os.umask(umask_for(group_read))
    try:
        yield
    finally:
        os.umask(previous)


def spill_folder(db_path: str | Path) -> Path:
    """DuckDB's default temp directory for a database file: `<file>.tmp` beside it."""
    return Path(str(db_path) + ".tmp")


def clear_spill_folder(db_path: str | Path) -> None:
    """Remove `<db>.tmp/` (spilled rows hold IDs in clear text). Called while the run holds the
    database's lock, so no other run is using it."""
    folder = spill_folder(db_path)
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder, ignore_errors=True)


def prepare_spill_folder(db_path: str | Path) -> Path:
    """A fresh, owner-only `<db>.tmp/` (whatever a crashed run left there is removed first)."""
    clear_spill_folder(db_path)
    folder = spill_folder(db_path)
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)
    return folder


def check_out_dir(out_dir: Path, month: str) -> None:
    """Refuse, before any work, an `--out` that cannot take the month's folder."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputNotWritable(f"'--out' {str(out_dir)!r} is a file, not a folder")
    target = out_dir / month
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise OutputNotWritable(f"'--out': {str(target)!r} exists and is not a folder; move it away and run again")
    if out_dir.exists() and not os.access(out_dir, os.W_OK | os.X_OK):
        raise OutputNotWritable(f"'--out' {str(out_dir)!r} is not writable")


def remove_stale_staging(out_dir: Path) -> list[Path]:
    """Remove staging folders that a killed run left in `out_dir`; return them."""
    if not out_dir.is_dir():
        return []
    stale = [p for p in out_dir.iterdir() if p.name.startswith(STAGING_PREFIX) and p.is_dir() and not p.is_symlink()]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: this file system cannot; rename instead
        return False
    raise OSError(errno, os.strerror(errno), str(b))


class StagedMonth:
    """The month's worklist folder, staged beside its final place and swapped in at the end."""

    def __init__(self, out_dir: Path, month: str, run_id: str) -> None:
        self.out_dir = Path(out_dir)
        self.month = month
        self.root = self.out_dir / f"{STAGING_PREFIX}{run_id}"
        self.final = self.out_dir / month
        self.previous: Path | None = None  # where the month's former folder is while not committed
        self.published = False
        self.swapped = False

    @property
    def staged(self) -> Path:
        return self.root / self.month

    def create(self) -> Path:
        """The staging root (owner-only), after the checks of `check_out_dir`."""
        check_out_dir(self.out_dir, self.month)
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.root.mkdir(mode=0o700)
        except OSError as exc:
            raise OutputNotWritable(f"'--out' {str(self.out_dir)!r}: cannot create a folder there "
                                    f"({exc.strerror})") from None
        return self.root

    def final_path(self, staged_file: Path) -> Path:
        return self.final / Path(staged_file).relative_to(self.staged)

    def publish(self) -> None:
        """Put the staged folder in the month's place; the former one is kept until `cleanup`."""
        check_out_dir(self.out_dir, self.month)
        try:
            if self.final.exists():
                if _exchange(self.staged, self.final):
                    self.swapped = True
                    self.previous = self.staged
                else:
                    self.previous = self.root / f"{self.month}.previous"
                    os.rename(self.final, self.previous)
                    os.rename(self.staged, self.final)
            else:
                os.rename(self.staged, self.final)
        except OSError as exc:
            self.undo()
            raise OutputNotWritable(f"'--out': cannot move the worklists into {str(self.final)!r} "
                                    f"({exc.strerror})") from None
        self.published = True

    def undo(self) -> None:
        """Put the month's former folder back (the run did not commit)."""
        try:
            if self.swapped:
                _exchange(self.staged, self.final)
                self.swapped = False
            elif self.previous is not None and self.previous.exists():
                if self.final.exists() and not self.staged.exists():
                    os.rename(self.final, self.staged)
                os.rename(self.previous, self.final)
            elif self.final.exists() and not self.staged.exists() and self.published:
                os.rename(self.final, self.staged)
        except OSError:
            log.error("could not restore %s; the former worklists are in %s", self.final, self.root)
            return
        self.previous = None
        self.published = False

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
