"""Plots people would rather look at than read: spike rasters of a spiking network.

    >>> trains = snn.spike_trains(x_test[0])                 # doctest: +SKIP
    >>> sncc.plots.raster(trains, "raster.png")             # doctest: +SKIP

Needs matplotlib (`pip install sncc[plots]`).
"""
from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

import numpy as np

from sncc.errors import SnccError


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SnccError("plots need matplotlib: pip install matplotlib") from None
    return plt


def check_image_path(path, what: str = "image file", probe: bool = False) -> Path:
    """Refuse an image path that cannot be written: a symlink, folder or device (it would be
    replaced by a regular file), a format matplotlib does not know (from the extension), a
    missing or unwritable folder. `probe` creates and removes a file in the folder, which
    also catches what permissions do not show (read-only file systems, root in /proc)."""
    p = Path(path)
    if p.is_symlink():
        raise SnccError(f"{what} '{p}' is a symbolic link; sncc does not replace links: give the real path")
    if p.exists() and not stat.S_ISREG(p.stat().st_mode):
        raise SnccError(f"{what} '{p}' exists and is not a regular file (a folder or device); give a file name")
    _pyplot()
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    if p.suffix.lower().lstrip(".") not in formats:
        raise SnccError(f"{what} '{p}': unknown image format '{p.suffix or '(no extension)'}'; "
                        f"use one of {', '.join('.' + f for f in sorted(formats))}")
    folder = p.parent
    if not folder.is_dir():
        raise SnccError(f"{what} '{p}': folder '{folder}' does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SnccError(f"{what} '{p}': cannot write in folder '{folder}' (permission denied)")
    if probe:
        tmp = p.parent / f".{p.name}.{secrets.token_hex(4)}.probe"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            tmp.unlink()
        except OSError as e:
            raise SnccError(f"{what} '{p}': cannot write in folder '{folder}': {e.strerror or e}") from None
    return p


def _save_atomically(fig, p: Path, what: str) -> None:
    """Render the figure, then write it with `sncc.outputs.write_file` (a temporary file beside
    `p` renamed over it, the umask's permissions): a reader never sees half an image, and an
    interrupted run leaves the old file."""
    import io

    from sncc.outputs import write_file

    check_image_path(p, what)  # again: the path may have changed during the simulation
    buf = io.BytesIO()
    fig.savefig(buf, dpi=110, format=p.suffix.lower().lstrip("."))
    write_file(p, buf.getvalue(), what)


def raster(trains: dict[str, np.ndarray], path, title: str = "", what: str = "raster file") -> Path:
    """One panel per layer: a dot at (t, neuron) for every spike. trains: {layer: [T, neurons]}.
    The image is written atomically; its format follows the extension."""
    plt = _pyplot()
    path = check_image_path(path, what)
    if not trains:
        raise SnccError("no spiking layers to plot")
    fig, axes = plt.subplots(len(trains), 1, figsize=(8, 1.2 + 1.8 * len(trains)), squeeze=False, sharex=True)
    for ax, (name, s) in zip(axes[:, 0], trains.items()):
        t, n = np.nonzero(s)
        ax.scatter(t, n, s=2, marker="|", color="black")
        T, N = s.shape
        ax.set_xlim(-0.5, T - 0.5)
        ax.set_ylim(-0.5, N - 0.5)
        ax.set_ylabel(f"{name}\nneuron")
        ax.set_title(f"{name}: {int(s.sum())} spikes, {100 * s.mean():.1f}% per neuron per step", fontsize=9)
    axes[-1, 0].set_xlabel("timestep")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        _save_atomically(fig, path, what)
    finally:
        plt.close(fig)
    return path
