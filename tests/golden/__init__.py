"""The golden model: an independent integer implementation of spec/ir.md sections 5-6.

A second implementation of the spiking (section 5) and fixed-point (section 6) semantics
of quantized sncc modules, written from the spec text in plain Python and numpy integer
code. It imports nothing from sncc, so agreeing with it checks sncc's interpreter and
backends against the spec rather than against themselves.

    model = Model(ops=[Op(...), ...], consts={...}, outputs=[...], T=8)   # see model.py
    result = run(model, x)          # x: float32 batch; result.outputs: readout integers
    result.outputs[0], result.fracs[0], result.spikes

`prng` holds the rate encoder's xorshift32 and seed hash (section 5.2).
"""
from .model import Model, Op, fx
from .prng import draws, initial_state, xorshift32_next
from .semantics import GoldenError, Result, quantize_input, run, time_invariant

__all__ = ["Model", "Op", "fx", "run", "Result", "GoldenError", "quantize_input", "time_invariant",
           "draws", "initial_state", "xorshift32_next"]
