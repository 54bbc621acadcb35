"""Writing what sncc produces without harming what is already there.

Rules (the developers' guide, "hostile input"): an output never replaces a device, a FIFO or a
symbolic link, never deletes a file sncc did not write, and is never left half-written.

* `write_file(path, data)`: a regular file (or a new one) is replaced atomically: written to a
  temporary name in the same folder, then renamed over it. A symbolic link is written through:
  its target is what gets replaced, the link stays. A character device or FIFO (`-o /dev/null`,
  `-o /dev/stdout`, a named pipe) is written to directly, never replaced. Anything else (a
  directory, a path below a file, a read-only folder) is an `SnccError` naming the path.
* `install_tree(tmp, out_dir)`: moves a finished build folder into place. Into an earlier build
  it replaces only the files that build wrote (listed in its manifest) and keeps everything
  else, such as a finished Vivado run in `vivado/` or the user's own notes.

New files and folders get the permissions the umask allows (0666/0777 & ~umask), as `open()`
and `mkdir` would give them; a replaced regular file keeps its mode.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_file(d / "a.sir", "module {}\\n")
    >>> (d / "a.sir").read_text()
    'module {}\\n'
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

from sncc.errors import SnccError

MANIFEST = ".sncc-manifest.json"


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _describe(path: Path) -> str:
    return f"'{path}'"


def resolve_output(path, what: str = "output") -> Path:
    """Follow symbolic links of an output path to what would really be written, and check that
    it can be a file: not a directory, its folder not a file. Returns the final path."""
    p = Path(path)
    if str(path) == "":
        raise SnccError(f"{what}: empty path")
    try:
        real = Path(os.path.realpath(p))
    except (OSError, ValueError) as e:
        raise SnccError(f"{what} {_describe(p)}: {e}") from None
    if real.is_dir():
        raise SnccError(f"{what} {_describe(p)} is a directory; give a file name")
    parent = real.parent
    if parent.exists() and not parent.is_dir():
        raise SnccError(f"{what} {_describe(p)}: '{parent}' is not a directory")
    return real


def _is_special(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode) or stat.S_ISBLK(st.st_mode) \
        or stat.S_ISSOCK(st.st_mode)


def write_file(path, data: str | bytes, what: str = "output") -> None:
    """Write `data` to `path` following the rules of this module (see its docstring)."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    real = resolve_output(path, what)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise SnccError(f"{what} {_describe(Path(path))}: {e.strerror or e}") from None
    try:
        if st is not None and _is_special(st):
            if stat.S_ISBLK(st.st_mode) or stat.S_ISSOCK(st.st_mode):
                raise SnccError(f"{what} {_describe(Path(path))} is a block device or socket; give a file name")
            with open(real, "wb") as f:   # a device or pipe: write through, never replace it
                f.write(raw)
            return
        real.parent.mkdir(parents=True, exist_ok=True, mode=0o777)
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
            mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~current_umask()
            os.chmod(tmp, mode)
            os.replace(tmp, real)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except SnccError:
        raise
    except OSError as e:
        raise SnccError(f"cannot write {what} {_describe(Path(path))}: {e.strerror or e}") from None


def make_temp_dir(prefix: str, parent=None) -> Path:
    """A new private working folder (mkdtemp), opened up to the umask's permissions."""
    try:
        d = Path(tempfile.mkdtemp(prefix=prefix, dir=None if parent is None else str(parent)))
    except OSError as e:
        raise SnccError(f"cannot create a folder in '{parent or tempfile.gettempdir()}': {e.strerror or e}") from None
    os.chmod(d, 0o777 & ~current_umask())
    return d


def read_manifest(out_dir: Path) -> list[str] | None:
    """The files an earlier sncc build wrote into `out_dir` (None: not an sncc build folder)."""
    m = out_dir / MANIFEST
    if not m.is_file() or m.is_symlink():
        return None
    try:
        data = json.loads(m.read_text())
        files = data["files"]
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            return None
        return files
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _generator_of(d: Path) -> str | None:
    """The generator named by a build folder's manifest (or, for builds made before manifests
    existed, by its report.json); None if there is neither."""
    for name in (MANIFEST, "report.json"):
        f = d / name
        if f.is_file() and not f.is_symlink():
            try:
                gen = json.loads(f.read_text()).get("generator")
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(gen, str):
                return gen
    return None


def _safe_relative(rel: str) -> bool:
    p = Path(rel)
    return not p.is_absolute() and ".." not in p.parts and rel not in ("", ".")


def check_output_dir(out_dir, generator: str) -> list[str]:
    """Check that `out_dir` may receive a build: it is new, empty, or an earlier build of the
    same kind (its manifest's generator starts with `generator`). Returns the other files it
    holds (kept by `install_tree`)."""
    d = Path(out_dir)
    if d.exists() and not d.is_dir():
        raise SnccError(f"'{d}' exists and is not a directory; give a new or empty output directory")
    for anc in [d] + list(d.parents):
        if anc.exists():
            if not anc.is_dir():
                raise SnccError(f"cannot create '{d}': '{anc}' is not a directory")
            if not os.access(anc, os.W_OK | os.X_OK):
                raise SnccError(f"cannot write into '{anc}' (permission denied); give another output directory")
            break
    if not d.exists():
        return []
    entries = sorted(str(p.relative_to(d)) for p in d.rglob("*") if not p.is_dir())
    if not entries:
        return []
    if _generator_of(d) is None or not _generator_of(d).startswith(generator):
        raise SnccError(f"'{d}' is not empty and not an earlier {generator} build; give a new or empty "
                        "output directory (sncc never deletes files it did not write)")
    ours = read_manifest(d) or []
    ours_set = set(ours) | {MANIFEST}
    return [e for e in entries if e not in ours_set]


def install_tree(tmp: Path, out_dir, generator: str, family: str | None = None) -> list[str]:
    """Move the finished build in `tmp` to `out_dir`. A new folder is renamed into place in
    one step. Into an earlier build: the files of the old manifest that the new build does
    not write are removed, the new files renamed over the old ones, everything else kept.
    Writes the manifest naming `generator`; an earlier build is accepted if its generator
    starts with `family` (default: `generator`). Returns the kept files (relative paths)."""
    out_dir = Path(out_dir)
    files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
    (tmp / MANIFEST).write_text(json.dumps({"generator": generator, "files": files}, indent=1) + "\n")
    os.chmod(tmp / MANIFEST, 0o666 & ~current_umask())
    kept = check_output_dir(out_dir, family or generator)
    try:
        if not out_dir.exists():
            out_dir.parent.mkdir(parents=True, exist_ok=True)
            os.rename(tmp, out_dir)
            return []
        old = read_manifest(out_dir) or []
        new = set(files)
        for rel in old:
            if rel in new or not _safe_relative(rel):
                continue
            p = out_dir / rel
            if p.is_file() and not p.is_symlink():
                p.unlink()
        for rel in files + [MANIFEST]:
            dst = out_dir / rel
            if dst.is_symlink() or (dst.exists() and not dst.is_file()):
                raise SnccError(f"'{dst}' is not a regular file written by sncc; remove it or give another "
                                "output directory")
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / rel, dst)
        # empty folders the old build left (never a folder that still holds anything)
        for rel in sorted({str(Path(r).parent) for r in old if _safe_relative(r)}, key=len, reverse=True):
            p = out_dir / rel
            if rel != "." and p.is_dir() and not p.is_symlink() and not any(p.iterdir()):
                p.rmdir()
        shutil.rmtree(tmp, ignore_errors=True)
        return kept
    except OSError as e:
        raise SnccError(f"cannot write the build into '{out_dir}': {e.strerror or e}") from None
