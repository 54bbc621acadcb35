"""Artix-7 boards and parts known to the backend.

Boards: pins from Digilent's published master XDC files (digilent-xdc: Arty-A7-35-Master.xdc,
Arty-A7-100-Master.xdc, Basys-3-Master.xdc, Nexys-A7-100T-Master.xdc).

Parts: capacities of every Artix-7 device from AMD's 7 Series FPGAs Data Sheet: Overview
(DS180, "Artix-7 FPGA Feature Summary" and "Device-Package Combinations"). Any package and
speed grade of a device has the same fabric, so capacity depends on the device only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from sncc.errors import SnccError


@dataclass(frozen=True)
class Device:
    name: str            # "xc7a100t"
    logic_cells: int
    slices: int
    ffs: int             # CLB flip-flops
    dist_ram_kb: int     # maximum distributed RAM (Kb)
    dsp: int             # DSP48E1 slices
    bram36: int          # 36 Kb block RAMs (each is two 18 Kb halves)
    packages: tuple[str, ...]

    @property
    def luts(self) -> int:
        return 4 * self.slices

    @property
    def lutram_luts(self) -> int:
        """LUTs usable as distributed RAM (64 bits each)."""
        return self.dist_ram_kb * 1024 // 64

    @property
    def bram_kb(self) -> int:
        return 36 * self.bram36


# DS180 (v2.6), Table 3 (Artix-7 feature summary) and Table 4 (device-package combinations).
DEVICES: dict[str, Device] = {d.name: d for d in (
    Device("xc7a12t", 12_800, 2_000, 16_000, 171, 40, 20, ("cpg238", "csg325")),
    Device("xc7a15t", 16_640, 2_600, 20_800, 200, 45, 25, ("cpg236", "csg324", "csg325", "ftg256", "fgg484")),
    Device("xc7a25t", 23_360, 3_650, 29_200, 313, 80, 45, ("cpg238", "csg325")),
    Device("xc7a35t", 33_280, 5_200, 41_600, 400, 90, 50, ("cpg236", "csg324", "csg325", "ftg256", "fgg484")),
    Device("xc7a50t", 52_160, 8_150, 65_200, 600, 120, 75, ("cpg236", "csg324", "csg325", "ftg256", "fgg484")),
    Device("xc7a75t", 75_520, 11_800, 94_400, 892, 180, 105, ("csg324", "ftg256", "fgg484", "fgg676")),
    Device("xc7a100t", 101_440, 15_850, 126_800, 1_188, 240, 135, ("csg324", "ftg256", "fgg484", "fgg676")),
    Device("xc7a200t", 215_360, 33_650, 269_200, 2_888, 740, 365, ("sbg484", "fbg484", "fbg676", "ffg1156")),
)}

# Speed grades: -1, -2, -3 (commercial/industrial), -1L (industrial low power, "i" before the
# package: xc7a35ticsg324-1L), -2L (low voltage, "l" before the package: xc7a100tlcsg324-2L),
# and the automotive/defense grades -1I, -2I, -1Q, -2Q, -1M, -1LI of the XA7A/XQ7A devices.
_PART_RE = re.compile(r"^(x[caq])7a(12|15|25|35|50|75|100|200)t([il]?)([a-z]{2,3})(\d{3,4})-(1|2|3)(l|li|i|q|m|lq)?$")


@dataclass(frozen=True)
class Part:
    name: str          # as given, lower case but for the speed-grade suffix (Vivado spelling)
    device: Device
    package: str
    speed: str


def parse_part(name: str) -> Part:
    """Validate an Artix-7 part name (Vivado spelling, e.g. xc7a100tcsg324-1, xc7a35ticsg324-1L)."""
    raw = name.strip()
    m = _PART_RE.match(raw.lower())
    if not m:
        raise SnccError(f"'{name}' is not an Artix-7 part: expected a name like xc7a100tcsg324-1 or xc7a35ticsg324-1L "
                        "(devices 12T, 15T, 25T, 35T, 50T, 75T, 100T, 200T)")
    family, size, lowpower, pkg, pins, grade, suffix = m.groups()
    dev = DEVICES[f"xc7a{size}t"]
    # package letters: Vivado spells the lead-free packages with a G (csg324); V (fbv676) and
    # the plain, leaded names (cs324) are the same footprints.
    base = pkg[:2] if len(pkg) == 3 and pkg[2] in "gv" else pkg
    canon = f"{base}g{pins}"
    if canon not in dev.packages:
        raise SnccError(f"'{name}': the XC7A{size}T does not come in a {pkg.upper()}{pins} package "
                        f"(it comes in {', '.join(p.upper() for p in dev.packages)})")
    speed = f"-{grade}{(suffix or '').upper()}"
    if lowpower == "i" and not speed.upper().startswith("-1L"):
        raise SnccError(f"'{name}': the 'i' low-power parts are speed grade -1L (e.g. xc7a{size}ti{pkg}{pins}-1L)")
    if lowpower == "l" and speed.upper() != "-2L":
        raise SnccError(f"'{name}': the 'l' low-voltage parts are speed grade -2L (e.g. xc7a{size}tl{pkg}{pins}-2L)")
    canonical = f"{family}7a{size}t{lowpower}{pkg}{pins}{speed[0]}{speed[1:]}"
    return Part(canonical, dev, canon, speed)


@dataclass(frozen=True)
class Board:
    name: str
    title: str
    part: str
    clock_hz: int
    clock_pin: str
    reset_pin: str
    reset_active_low: bool
    reset_name: str        # schematic name of the reset button
    uart_rx_pin: str       # FPGA input (host -> FPGA)
    uart_tx_pin: str       # FPGA output (FPGA -> host)
    led_pins: tuple[str, ...]
    source: str            # the master XDC the pins come from
    notes: tuple[str, ...] = field(default_factory=tuple)


BOARDS: dict[str, Board] = {b.name: b for b in (
    Board("arty-a7-35", "Digilent Arty A7-35", "xc7a35ticsg324-1L", 100_000_000, "E3", "C2", True, "ck_rst",
          "A9", "D10", ("H5", "J5", "T9", "T10"), "Arty-A7-35-Master.xdc"),
    Board("arty-a7-100", "Digilent Arty A7-100", "xc7a100tcsg324-1", 100_000_000, "E3", "C2", True, "ck_rst",
          "A9", "D10", ("H5", "J5", "T9", "T10"), "Arty-A7-100-Master.xdc"),
    Board("basys3", "Digilent Basys 3", "xc7a35tcpg236-1", 100_000_000, "W5", "U18", False, "btnC",
          "B18", "A18", ("U16", "E19", "U19", "V19", "W18", "U15", "U14", "V14",
                         "V13", "V3", "W3", "U3", "P3", "N3", "P1", "L1"), "Basys-3-Master.xdc"),
    Board("nexys-a7-100", "Digilent Nexys A7-100T", "xc7a100tcsg324-1", 100_000_000, "E3", "C12", True, "CPU_RESETN",
          "C4", "D4", ("H17", "K15", "J13", "N14", "R18", "V17", "U17", "U16",
                       "V16", "T15", "U14", "T16", "V15", "V14", "V12", "V11"), "Nexys-A7-100T-Master.xdc"),
)}


def get_board(name: str) -> Board:
    key = name.strip().lower()
    if key not in BOARDS:
        raise SnccError(f"unknown board '{name}': known boards are {', '.join(BOARDS)} "
                        "(or give --part for a core-only build)")
    return BOARDS[key]
