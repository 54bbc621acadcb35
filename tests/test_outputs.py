"""Outputs never harm what is there: symlinks and devices are written through, never replaced;
bad output paths are one-line errors (exit 1); rebuilding keeps files sncc did not write;
names from a model never reach generated Verilog."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from sncc.errors import SnccError
from sncc.outputs import MANIFEST, check_output_dir, install_tree, write_file

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "mlp.onnx"


def run(*args):
    return subprocess.run([sys.executable, "-m", "sncc", *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def one_line_error(r):
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert lines and lines[-1].startswith("sncc: error:"), r.stderr
    assert "Traceback" not in r.stderr


# ------------------------------------------------------------------ write_file

def test_symlink_is_written_through_not_replaced(tmp_path):
    target = tmp_path / "real.sir"
    target.write_text("old")
    link = tmp_path / "link.sir"
    link.symlink_to(target)
    write_file(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "new"
    # a dangling link: its target is created, the link stays
    dangling = tmp_path / "dangling.sir"
    dangling.symlink_to(tmp_path / "sub" / "made.sir")
    write_file(dangling, "x")
    assert dangling.is_symlink() and (tmp_path / "sub" / "made.sir").read_text() == "x"


def test_fifo_is_written_through(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    write_file(fifo, "through the pipe")
    reader.join(10)
    assert got == [b"through the pipe"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)       # still a FIFO, not a regular file


def test_dev_null_stays_a_device():
    write_file("/dev/null", "discarded")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_bad_output_paths(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("a file")
    with pytest.raises(SnccError, match="is a directory"):
        write_file(tmp_path / "d", "x")
    with pytest.raises(SnccError, match="not a directory"):
        write_file(tmp_path / "f" / "out.sir", "x")
    with pytest.raises(SnccError, match="cannot write"):
        write_file("/proc/sncc-test-output.sir", "x")    # not writable, even for root


def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path):
    old = os.umask(0o027)
    try:
        write_file(tmp_path / "new.sir", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.sir").st_mode) == 0o640
    p = tmp_path / "kept.sir"
    p.write_text("x")
    os.chmod(p, 0o604)
    write_file(p, "y")
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o604 and p.read_text() == "y"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["kept.sir", "new.sir"]   # no temporaries


def test_cli_output_paths(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("a file")
    one_line_error(run(EXAMPLE, "-o", tmp_path / "d"))
    one_line_error(run(EXAMPLE, "-o", tmp_path / "f" / "x.sir"))
    one_line_error(run(EXAMPLE, "-o", "/proc/sncc-test-output.sir"))
    link = tmp_path / "link.sir"
    link.symlink_to(tmp_path / "target.sir")
    r = run(EXAMPLE, "-o", link)
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and (tmp_path / "target.sir").read_text().startswith("module @mlp")
    r = run(EXAMPLE, "-o", "/dev/null")
    assert r.returncode == 0, r.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


# ------------------------------------------------------------------ build folders

def _fake_build(tmp_path, files: dict[str, str]) -> Path:
    t = tmp_path / ".tmp-build"
    for rel, text in files.items():
        (t / rel).parent.mkdir(parents=True, exist_ok=True)
        (t / rel).write_text(text)
    return t


def test_rebuild_keeps_foreign_files_and_removes_only_its_own(tmp_path):
    out = tmp_path / "build"
    install_tree(_fake_build(tmp_path, {"rtl/a.v": "1", "rtl/old.v": "1", "report.json": "{}"}), out, "gen X")
    assert json.loads((out / MANIFEST).read_text())["files"] == ["report.json", "rtl/a.v", "rtl/old.v"]
    (out / "vivado").mkdir()
    (out / "vivado" / "top.bit").write_text("a finished Vivado run")
    (out / "notes.txt").write_text("mine")
    kept = install_tree(_fake_build(tmp_path, {"rtl/a.v": "2", "report.json": "{}"}), out, "gen X")
    assert sorted(kept) == ["notes.txt", "vivado/top.bit"]
    assert (out / "vivado" / "top.bit").read_text() == "a finished Vivado run"
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "rtl" / "a.v").read_text() == "2" and not (out / "rtl" / "old.v").exists()
    assert not (tmp_path / ".tmp-build").exists()


def test_foreign_folder_is_refused(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "thesis.tex").write_text("do not delete")
    with pytest.raises(SnccError, match="not an earlier"):
        check_output_dir(d, "gen X")
    # a manifest of another generator is not ours either
    (d / MANIFEST).write_text(json.dumps({"generator": "other", "files": ["thesis.tex"]}))
    with pytest.raises(SnccError, match="not an earlier"):
        check_output_dir(d, "gen X")
    assert (d / "thesis.tex").read_text() == "do not delete"
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(SnccError, match="not a directory"):
        check_output_dir(f, "gen X")
    with pytest.raises(SnccError, match="not a directory"):
        check_output_dir(f / "sub", "gen X")


def test_manifest_cannot_point_outside(tmp_path):
    """A crafted manifest naming ../ paths or absolute paths deletes nothing outside the folder."""
    outside = tmp_path / "precious.txt"
    outside.write_text("keep")
    out = tmp_path / "build"
    out.mkdir()
    (out / MANIFEST).write_text(json.dumps({"generator": "gen X", "files": ["../precious.txt", str(outside)]}))
    install_tree(_fake_build(tmp_path, {"a.v": "1"}), out, "gen X")
    assert outside.read_text() == "keep"


def test_sigterm_during_artix7_build_leaves_nothing(tmp_path):
    """SIGTERM in the middle of a build (during the Verilator co-simulation) removes the
    half-built folder and the simulation's work folder."""
    import signal
    import time

    calib = tmp_path / "calib.npy"
    np.save(calib, np.random.default_rng(0).uniform(0, 1, (20, 784)).astype(np.float32))
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    out = tmp_path / "o" / "build"
    env = dict(os.environ, TMPDIR=str(tmpdir))
    p = subprocess.Popen([sys.executable, "-m", "sncc", EXAMPLE, "--calib", calib, "-T", "2", "--target", "artix7",
                          "-o", out, "--no-synth", "--test-vectors", "2"], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmpdir.glob("sncc-artix7-sim-*")):
        time.sleep(0.05)
    assert list(tmpdir.glob("sncc-artix7-sim-*")), "the build never reached the co-simulation"
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode != 0 and "Traceback" not in err, err
    assert not out.exists()
    assert list((tmp_path / "o").iterdir()) == []
    assert list(tmpdir.iterdir()) == []
