"""Plots people would rather look at than read: spike rasters of a spiking network.

    >>> trains = snn.spike_trains(x_test[0])                 # doctest: +SKIP
    >>> sncc.plots.raster(trains, "raster.png")             # doctest: +SKIP

Needs matplotlib (`pip install sncc[plots]`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sncc.errors import SnccError


def raster(trains: dict[str, np.ndarray], path, title: str = "") -> Path:
    """One panel per layer: a dot at (t, neuron) for every spike. trains: {layer: [T, neurons]}."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SnccError("plots need matplotlib: pip install matplotlib") from None
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
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
