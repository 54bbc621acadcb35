"""sncc.runtime: compiled Cython kernels and hand-written RTL primitives used by the backends."""
