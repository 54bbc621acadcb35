# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False, nonecheck=False
"""float32 kernels of the CPU simulator (sncc.backends.cpu).

Every kernel works on a batch of *rows*: one row is one sample at one timestep (the
simulator flattens [batch, T, ...] into rows), so the time loop of a feed-forward
spiking network becomes a batch dimension of the stateless ops. The stateful ops
(`if`, `readout`, rate `encode`, `gated_maxpool2d`) take [batch, T, ...] (or
[batch, 1, ...] for an input that is the same at every step) and run their time loop
inside.

Inputs are float32 or uint8 (spikes, 0/1): the fused type `in_t`. Spike inputs of the
linear ops are used as events: only the inputs that are non-zero are visited (dense:
rows of the transposed weight [K, N] are accumulated; conv2d: every active input adds
its weight rows to the output pixels its taps reach). conv2d, the window sums and add/mul
also serve the fixed-point mode with integer types (same design; see the fixed-point
section for the kernels only that mode has).

The hot loops (dense, conv2d, pooling, if, rate encoding, gated max pooling) are in
spiking_simd.h: C with 64-byte vectors, compiled for AVX-512, AVX2 and the baseline and
dispatched at run time (setup.py compiles for the baseline ISA only).

Shapes are checked here (ValueError on a mismatch) before any loop runs: the loops never
read or write out of bounds. Parallelism is over rows (OpenMP `prange`), without the GIL;
every kernel's last argument `threads` is 0 (automatic: serial for small work), 1
(serial: the caller runs chunks in parallel threads itself) or a maximum. The semantics
are those of spec/ir.md (sections 4 and 5); summation order may differ from the
reference interpreter (rounding only).
"""
from cython.parallel cimport prange, threadid
from libc.stdint cimport uint8_t, uint32_t, int32_t, int64_t
from libc.math cimport floor, ldexp
cimport openmp

import numpy as np

cdef extern from "spiking_simd_vec.h":
    pass    # included by spiking_simd.h; declared here so that builds depend on it

cdef extern from "spiking_simd.h" nogil:
    void snn_dense_u8(const uint8_t* x, int64_t M, int64_t K, const float* wt, int64_t N, int64_t ldw,
                      const float* bias, float* out, int32_t* idx)
    void snn_dense_f32_sparse(const float* x, int64_t M, int64_t K, const float* wt, int64_t N, int64_t ldw,
                              const float* bias, float* out, int32_t* idx, float* val)
    void snn_gemm(const float* x, int64_t M, int64_t K, const float* wt, int64_t N, int64_t ldw, const float* bias,
                  float* out)
    int64_t snn_if_f32(const float* x, int64_t xstep, int64_t T, int64_t S, const float* th, float* v,
                       uint8_t* out, int reset_zero)
    int64_t snn_if_u8(const uint8_t* x, int64_t xstep, int64_t T, int64_t S, const float* th, float* v,
                      uint8_t* out, int reset_zero)
    void snn_encode_rate(const float* x, int64_t xstep, int64_t T, int64_t n, const uint32_t* u, uint32_t* thr,
                         uint8_t* out)
    void snn_conv_u8_f32(const uint8_t* x, int64_t C, int64_t H, int64_t W, const float* wt, int64_t G, int64_t kh,
            int64_t kw, int64_t Og, int64_t Ogp, int64_t Ho, int64_t Wo, int64_t sh, int64_t sw, int64_t pt, int64_t pl,
            int64_t dh, int64_t dw, const float* bias, float* out, int32_t* idx, float* val, int flags)
    void snn_conv_f32_f32(const float* x, int64_t C, int64_t H, int64_t W, const float* wt, int64_t G, int64_t kh,
            int64_t kw, int64_t Og, int64_t Ogp, int64_t Ho, int64_t Wo, int64_t sh, int64_t sw, int64_t pt, int64_t pl,
            int64_t dh, int64_t dw, const float* bias, float* out, int32_t* idx, float* val, int flags)
    void snn_conv_u8_f32i(const uint8_t* x, int64_t C, int64_t H, int64_t W, const float* wt, int64_t G, int64_t kh,
            int64_t kw, int64_t Og, int64_t Ogp, int64_t Ho, int64_t Wo, int64_t sh, int64_t sw, int64_t pt, int64_t pl,
            int64_t dh, int64_t dw, const float* bias, int32_t* out, int32_t* idx, float* val, int flags)
    void snn_conv_i32_f32i(const int32_t* x, int64_t C, int64_t H, int64_t W, const float* wt, int64_t G, int64_t kh,
            int64_t kw, int64_t Og, int64_t Ogp, int64_t Ho, int64_t Wo, int64_t sh, int64_t sw, int64_t pt, int64_t pl,
            int64_t dh, int64_t dw, const float* bias, int32_t* out, int32_t* idx, float* val, int flags)
    void snn_conv_u8_i32(const uint8_t* x, int64_t C, int64_t H, int64_t W, const int32_t* wt, int64_t G, int64_t kh,
            int64_t kw, int64_t Og, int64_t Ogp, int64_t Ho, int64_t Wo, int64_t sh, int64_t sw, int64_t pt, int64_t pl,
            int64_t dh, int64_t dw, const int32_t* bias, int32_t* out, int32_t* idx, int32_t* val, int flags)
    void snn_conv_i32_i32(const int32_t* x, int64_t C, int64_t H, int64_t W, const int32_t* wt, int64_t G, int64_t kh,
            int64_t kw, int64_t Og, int64_t Ogp, int64_t Ho, int64_t Wo, int64_t sh, int64_t sw, int64_t pt, int64_t pl,
            int64_t dh, int64_t dw, const int32_t* bias, int32_t* out, int32_t* idx, int32_t* val, int flags)
    void snn_poolsum_u8_u8(const uint8_t* x, int64_t C, int64_t H, int64_t W, uint8_t* out, int64_t Ho, int64_t Wo,
                           int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int cl)
    void snn_poolsum_u8_i32(const uint8_t* x, int64_t C, int64_t H, int64_t W, int32_t* out, int64_t Ho, int64_t Wo,
                            int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int cl)
    void snn_poolsum_u8_i64(const uint8_t* x, int64_t C, int64_t H, int64_t W, int64_t* out, int64_t Ho, int64_t Wo,
                            int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int cl)
    void snn_poolsum_i32_i32(const int32_t* x, int64_t C, int64_t H, int64_t W, int32_t* out, int64_t Ho, int64_t Wo,
                             int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int cl)
    void snn_poolsum_i32_i64(const int32_t* x, int64_t C, int64_t H, int64_t W, int64_t* out, int64_t Ho, int64_t Wo,
                             int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int cl)
    void snn_poolsum_i64_i64(const int64_t* x, int64_t C, int64_t H, int64_t W, int64_t* out, int64_t Ho, int64_t Wo,
                             int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int cl)

    void snn_dense_u8_i32(const uint8_t* x, int64_t M, int64_t K, const int32_t* wt, int64_t N, int64_t ldw,
                          const int32_t* bias, int32_t* out, int32_t* idx)
    void snn_dense_i32_i32(const int32_t* x, int64_t M, int64_t K, const int32_t* wt, int64_t N, int64_t ldw,
                           const int32_t* bias, int32_t* out, int32_t* idx, int32_t* val)
    void snn_dense_i32_f32x(const int32_t* x, int64_t M, int64_t K, const float* wt, int64_t N, int64_t ldw,
                            const int32_t* bias, int32_t* out, int32_t* idx, float* val, float* xf, int64_t L)
    void snn_dense_i64_u8(const uint8_t* x, int64_t M, int64_t K, const int64_t* wt, int64_t N, int64_t ldw,
                          const int64_t* bias, int64_t* out)
    void snn_dense_i64_i32(const int32_t* x, int64_t M, int64_t K, const int64_t* wt, int64_t N, int64_t ldw,
                           const int64_t* bias, int64_t* out)
    void snn_dense_i64_i64(const int64_t* x, int64_t M, int64_t K, const int64_t* wt, int64_t N, int64_t ldw,
                           const int64_t* bias, int64_t* out)
    int64_t snn_ifq_u8_i32(const uint8_t* x, int64_t xstep, int64_t T, int64_t S, const int32_t* th, int32_t* v,
                           uint8_t* out, int64_t lo, int64_t hi, int reset_zero)
    int64_t snn_ifq_i32_i32(const int32_t* x, int64_t xstep, int64_t T, int64_t S, const int32_t* th, int32_t* v,
                            uint8_t* out, int64_t lo, int64_t hi, int reset_zero)
    int64_t snn_ifq_u8_i64(const uint8_t* x, int64_t xstep, int64_t T, int64_t S, const int64_t* th, int64_t* v,
                           uint8_t* out, int64_t lo, int64_t hi, int reset_zero)
    int64_t snn_ifq_i32_i64(const int32_t* x, int64_t xstep, int64_t T, int64_t S, const int64_t* th, int64_t* v,
                            uint8_t* out, int64_t lo, int64_t hi, int reset_zero)
    int64_t snn_ifq_i64_i64(const int64_t* x, int64_t xstep, int64_t T, int64_t S, const int64_t* th, int64_t* v,
                            uint8_t* out, int64_t lo, int64_t hi, int reset_zero)
    void snn_encode_rate_q(const uint32_t* thr, int64_t xstep, int64_t T, int64_t n, const uint32_t* u,
                           uint8_t* out)

    int64_t snn_quant_f32_i32(const float* x, int64_t n, double scale, int64_t lo, int64_t hi, int32_t* out)
    int64_t snn_quant_f32_i64(const float* x, int64_t n, double scale, int64_t lo, int64_t hi, int64_t* out)
    int64_t snn_quant_f64_i32(const double* x, int64_t n, double scale, int64_t lo, int64_t hi, int32_t* out)
    int64_t snn_quant_f64_i64(const double* x, int64_t n, double scale, int64_t lo, int64_t hi, int64_t* out)

    enum:
        SNN_CONV_IN_CL
        SNN_CONV_OUT_CL
    int snn_isa()
    int snn_set_isa(int level)
    void snn_avgpool_u8(const uint8_t* x, int64_t C, int64_t H, int64_t W, float* out, int64_t Ho, int64_t Wo,
                        int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int cip, int cl)
    void snn_avgpool_f32(const float* x, int64_t C, int64_t H, int64_t W, float* out, int64_t Ho, int64_t Wo,
                         int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int cip, int cl)
    void snn_maxpool_u8(const uint8_t* x, int64_t C, int64_t H, int64_t W, uint8_t* out, int64_t Ho, int64_t Wo,
                        int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t dh, int64_t dw)
    void snn_maxpool_f32(const float* x, int64_t C, int64_t H, int64_t W, float* out, int64_t Ho, int64_t Wo,
                         int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t dh, int64_t dw)
    void snn_gated_u8(const uint8_t* x, int64_t xstep, int64_t T, int64_t C, int64_t H, int64_t W, uint8_t* out,
                      int64_t Ho, int64_t Wo, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pl,
                      int64_t dh, int64_t dw, float* acc, float* best)
    void snn_gated_f32(const float* x, int64_t xstep, int64_t T, int64_t C, int64_t H, int64_t W, float* out,
                       int64_t Ho, int64_t Wo, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pl,
                       int64_t dh, int64_t dw, float* acc, float* best)

ctypedef fused in_t:
    uint8_t
    float

ctypedef fused a_t:
    uint8_t
    float

ctypedef fused b_t:
    uint8_t
    float

ctypedef fused qx_t:   # fixed-point inputs: spikes or integers
    uint8_t
    int32_t
    int64_t

ctypedef fused qa_t:   # fixed-point accumulators / membranes
    int32_t
    int64_t

ctypedef fused cx_t:   # conv2d inputs: spikes or small counts, floats, fixed-point integers
    uint8_t
    float
    int32_t

ctypedef fused ca_t:   # conv2d weights and sums: float, or int32 (exact where the caller's bound fits)
    float
    int32_t

ctypedef fused co_t:   # conv2d outputs: the sum type, or int32 from exact f32 sums
    float
    int32_t

ctypedef fused px_t:   # pool_sum / binary_fixed inputs
    uint8_t
    int32_t
    int64_t

ctypedef fused py_t:
    uint8_t
    int32_t
    int64_t

ctypedef fused po_t:   # pool_sum / binary_fixed outputs
    uint8_t
    int32_t
    int64_t

cdef enum:
    DENSE_ROWS = 16     # rows per parallel work item (event-driven dense)
    GEMM_ROWS = 64      # rows per parallel work item (GEMM: the weight panel is reused by these rows)


def max_threads():
    """The number of OpenMP threads a parallel region may use."""
    return openmp.omp_get_max_threads()


def isa_level():
    """The instruction set of the dense/GEMM/conv kernels: 2 AVX-512, 1 AVX2+FMA, 0 baseline."""
    return snn_isa()


def set_isa_level(int level):
    """Use at most `level` (see isa_level; for tests); returns the level now in effect."""
    return snn_set_isa(level)


def set_num_threads(int n):
    """Set the number of OpenMP threads (process-wide, like OMP_NUM_THREADS)."""
    openmp.omp_set_num_threads(n)


cdef inline int _nthreads(Py_ssize_t items, double work, int threads) noexcept nogil:
    """Threads for a parallel loop over `items` with ~`work` elementary operations.
    `threads` (every kernel's last argument): 1 = serial (the caller parallelizes over
    chunks of samples itself), n > 1 = at most n, 0 = automatic: one for small work (a
    parallel region costs microseconds, much more on an oversubscribed machine), else up
    to the OpenMP maximum."""
    cdef int n = openmp.omp_get_max_threads()
    if threads == 1 or items < 2:
        return 1
    if threads > 1:
        n = threads if threads < n else n
    elif work < 65536.0:
        return 1
    return <int>items if items < n else n


cdef inline void _check(bint ok, str what) except *:
    if not ok:
        raise ValueError("spiking_kernels: " + what)


# ----------------------------------------------------------------------------- dense

def dense(const in_t[:, ::1] x, const float[:, ::1] wt, const float[::1] bias, float[:, ::1] out,
          bint sparse=True, int threads=0):
    """out[m, n] = sum_k x[m, k] * wt[k, n] (+ bias[n]); wt is the transposed weight [K, N],
    or [K, Np] with Np >= N a multiple of 16 and zero padding (dense_weight_layout: the
    last outputs then use vectors too); `bias` may have length 0 (no bias).

    Spikes: event driven, the weight rows of the inputs that fired are added. Floats:
    zero inputs skipped (sparse=True) or a register-blocked GEMM (sparse=False, dense data)."""
    cdef Py_ssize_t M = x.shape[0], K = x.shape[1], N = out.shape[1], ldw = wt.shape[1]
    _check(wt.shape[0] == K, "dense: weight rows != input features")
    _check(out.shape[0] == M and (ldw == N or (ldw % 16 == 0 and N <= ldw < N + 16)), "dense: output shape")
    _check(bias.shape[0] == 0 or bias.shape[0] == N, "dense: bias shape")
    _check(K >= 1, "dense: no input features")
    if M == 0 or N == 0:
        return
    cdef const float* bp = &bias[0] if bias.shape[0] == N else NULL
    cdef int nth = 1 if threads == 1 else openmp.omp_get_max_threads()   # rows of per-thread scratch
    cdef int32_t[:, ::1] idx = np.empty((nth, K + 16), dtype=np.int32)   # + 16: vector compaction slack
    cdef float[:, ::1] vals = np.empty((nth, K + 16), dtype=np.float32)
    cdef bint sparse_data = in_t is uint8_t or sparse
    cdef Py_ssize_t rows = DENSE_ROWS if sparse_data else GEMM_ROWS
    cdef Py_ssize_t nblk = (M + rows - 1) // rows
    cdef Py_ssize_t blk, r0, r1
    cdef int tid
    cdef int nt = _nthreads(nblk, <double>M * (K + N) * (K if not sparse_data else 8), threads)
    with nogil:
        for blk in prange(nblk, schedule="static", num_threads=nt):
            tid = threadid()
            r0 = blk * rows
            r1 = min(M, r0 + rows)
            if in_t is uint8_t:
                snn_dense_u8(&x[r0, 0], r1 - r0, K, &wt[0, 0], N, ldw, bp, &out[r0, 0], &idx[tid, 0])
            else:
                if sparse:
                    snn_dense_f32_sparse(&x[r0, 0], r1 - r0, K, &wt[0, 0], N, ldw, bp, &out[r0, 0], &idx[tid, 0],
                                         &vals[tid, 0])
                else:
                    snn_gemm(&x[r0, 0], r1 - r0, K, &wt[0, 0], N, ldw, bp, &out[r0, 0])


# ----------------------------------------------------------------------------- conv2d

def conv2d(const cx_t[:, :, :, ::1] x, const ca_t[:, :, :, :, ::1] wt, const ca_t[::1] bias,
           co_t[:, :, :, ::1] out, int sh, int sw, int pt, int pl, int dh, int dw, int threads=0,
           bint in_channels_last=False, bint out_channels_last=False):
    """ONNX Conv on rows [M, C, H, W] -> [M, O, Ho, Wo]; in_channels_last: x is [M, H, W, C],
    out_channels_last: out is [M, Ho, Wo, O]. wt is [G, kh, kw, C/G, Ogp]:
    wt[g, p, q, c, o'] = weight[g*Og + o', c, p, q] (Og = O/G), zero-padded to Ogp, a
    multiple of 16 (see conv_weight_layout), of the sum type: float32, or int32 for exact
    fixed point (the caller guarantees every partial sum fits in int32). Fixed point may
    also sum integer-valued float32 weights into an int32 `out`: the caller guarantees
    every input and partial sum is below 2^24 in magnitude (exact in f32, in any order).

    Event driven: the non-zero inputs (spikes, small pooled counts, pixels) of every input
    pixel are listed once; every output pixel then sums value * weight row over the events
    its taps reach, vectors over output channels held in registers, in the order in which
    scattering the events in raster order would add them. Inputs outside [C, H, W] are
    never read and outputs outside [O, Ho, Wo] never written, whatever Ho and Wo are."""
    cdef Py_ssize_t M = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t G = wt.shape[0], kh = wt.shape[1], kw = wt.shape[2], Cg = wt.shape[3], Ogp = wt.shape[4]
    cdef Py_ssize_t O = out.shape[1], Ho = out.shape[2], Wo = out.shape[3]
    cdef int flags = (SNN_CONV_IN_CL if in_channels_last else 0) | (SNN_CONV_OUT_CL if out_channels_last else 0)
    if in_channels_last:
        H, W, C = x.shape[1], x.shape[2], x.shape[3]
    if out_channels_last:
        Ho, Wo, O = out.shape[1], out.shape[2], out.shape[3]
    if (cx_t is float and (ca_t is int32_t or co_t is int32_t)) or (ca_t is int32_t and co_t is float):
        raise ValueError("spiking_kernels: conv2d: float inputs need float weights and outputs, int32 weights "
                         "int32 outputs")
    _check(sh >= 1 and sw >= 1 and dh >= 1 and dw >= 1 and pt >= 0 and pl >= 0, "conv2d: attributes")
    _check(G >= 1 and Cg * G == C and O % G == 0, "conv2d: weight shape vs input/output channels")
    cdef Py_ssize_t Og = O // G if G >= 1 else 0
    _check(Ogp % 16 == 0 and Og <= Ogp < Og + 16, "conv2d: weight padding")
    _check(out.shape[0] == M, "conv2d: output rows")
    _check(bias.shape[0] == 0 or bias.shape[0] == O, "conv2d: bias shape")
    if M == 0 or O == 0 or Ho == 0 or Wo == 0:
        return
    _check(<double>kh * kw * Cg * Ogp < 2147483647.0, "conv2d: weight too large for 32-bit offsets")
    if C == 0 or H == 0 or W == 0:  # no inputs: every output is the bias
        bshape = [-1] if out_channels_last else [-1, 1, 1]
        np.asarray(out)[...] = np.asarray(bias).reshape(bshape) if bias.shape[0] == O else 0
        return
    cdef const ca_t* bp = &bias[0] if bias.shape[0] == O else NULL
    cdef int nth = 1 if threads == 1 else openmp.omp_get_max_threads()   # rows of per-thread scratch
    sdt = np.float32 if ca_t is float else np.int32
    # per input pixel and group: the event list padded to a multiple of 4, and its length
    cdef int32_t[:, ::1] idx = np.empty((nth, H * W * (C + 5 * G)), dtype=np.int32)
    cdef ca_t[:, ::1] val = np.empty((nth, H * W * (C + 4 * G)), dtype=sdt)
    cdef Py_ssize_t m
    cdef int tid
    cdef int nt = _nthreads(M, <double>M * (C * H * W + O * Ho * Wo) * 4, threads)
    with nogil:
        for m in prange(M, schedule="static", num_threads=nt):
            tid = threadid()
            if ca_t is float and co_t is float:
                if cx_t is uint8_t:
                    snn_conv_u8_f32(&x[m, 0, 0, 0], C, H, W, &wt[0, 0, 0, 0, 0], G, kh, kw, Og, Ogp, Ho, Wo,
                                    sh, sw, pt, pl, dh, dw, bp, &out[m, 0, 0, 0], &idx[tid, 0], &val[tid, 0], flags)
                elif cx_t is float:
                    snn_conv_f32_f32(&x[m, 0, 0, 0], C, H, W, &wt[0, 0, 0, 0, 0], G, kh, kw, Og, Ogp, Ho, Wo,
                                     sh, sw, pt, pl, dh, dw, bp, &out[m, 0, 0, 0], &idx[tid, 0], &val[tid, 0], flags)
            elif ca_t is float and co_t is int32_t:
                if cx_t is uint8_t:
                    snn_conv_u8_f32i(&x[m, 0, 0, 0], C, H, W, &wt[0, 0, 0, 0, 0], G, kh, kw, Og, Ogp, Ho, Wo,
                                     sh, sw, pt, pl, dh, dw, bp, &out[m, 0, 0, 0], &idx[tid, 0], &val[tid, 0], flags)
                elif cx_t is int32_t:
                    snn_conv_i32_f32i(&x[m, 0, 0, 0], C, H, W, &wt[0, 0, 0, 0, 0], G, kh, kw, Og, Ogp, Ho, Wo,
                                      sh, sw, pt, pl, dh, dw, bp, &out[m, 0, 0, 0], &idx[tid, 0], &val[tid, 0], flags)
            elif ca_t is int32_t and co_t is int32_t:
                if cx_t is uint8_t:
                    snn_conv_u8_i32(&x[m, 0, 0, 0], C, H, W, &wt[0, 0, 0, 0, 0], G, kh, kw, Og, Ogp, Ho, Wo,
                                    sh, sw, pt, pl, dh, dw, bp, &out[m, 0, 0, 0], &idx[tid, 0], &val[tid, 0], flags)
                elif cx_t is int32_t:
                    snn_conv_i32_i32(&x[m, 0, 0, 0], C, H, W, &wt[0, 0, 0, 0, 0], G, kh, kw, Og, Ogp, Ho, Wo,
                                     sh, sw, pt, pl, dh, dw, bp, &out[m, 0, 0, 0], &idx[tid, 0], &val[tid, 0], flags)


def dense_weight_layout(weight):
    """The layout dense takes: weight [N, K] -> transposed [K, Np], Np = N rounded up to 16."""
    w = np.asarray(weight, dtype=np.float32)
    N, K = w.shape
    out = np.zeros((K, (N + 15) // 16 * 16), dtype=np.float32)
    out[:, :N] = w.T
    return out


def conv_weight_layout(weight, int groups, dtype=np.float32):
    """The layout conv2d takes: weight [O, C/G, kh, kw] -> [G, kh, kw, C/G, Og padded to 16]
    (float32, or int32 for the exact fixed-point sums)."""
    w = np.asarray(weight, dtype=dtype)
    O, Cg, kh, kw = w.shape
    _check(groups >= 1 and O % groups == 0, "conv_weight_layout: groups must divide the output channels")
    Og = O // groups
    Ogp = (Og + 15) // 16 * 16
    out = np.zeros((groups, kh, kw, Cg, Ogp), dtype=dtype)
    out[..., :Og] = w.reshape(groups, Og, Cg, kh, kw).transpose(0, 3, 4, 2, 1)
    return out


# ----------------------------------------------------------------------------- pooling

def avgpool2d(const in_t[:, :, :, ::1] x, float[:, :, :, ::1] out, int kh, int kw, int sh, int sw,
              int pt, int pl, bint count_include_pad, int threads=0, bint channels_last=False):
    """y = (sum of the window's elements inside the input) / N, N = kh*kw if
    count_include_pad else the number of those elements (spec/ir.md avgpool2d).
    Rows [M, C, H, W] -> [M, C, Ho, Wo], or channels_last: [M, H, W, C] -> [M, Ho, Wo, C]."""
    cdef Py_ssize_t M = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t Ho = out.shape[2], Wo = out.shape[3]
    if channels_last:
        H, W, C, Ho, Wo = x.shape[1], x.shape[2], x.shape[3], out.shape[1], out.shape[2]
    _check(out.shape[0] == M and out.shape[3 if channels_last else 1] == C, "avgpool2d: output shape")
    _check(kh >= 1 and kw >= 1 and sh >= 1 and sw >= 1 and pt >= 0 and pl >= 0, "avgpool2d: attributes")
    if M == 0 or C == 0 or Ho == 0 or Wo == 0 or H == 0 or W == 0:
        return
    cdef Py_ssize_t m
    cdef int nt = _nthreads(M, <double>M * C * (H * W + Ho * Wo), threads)
    with nogil:
        for m in prange(M, schedule="static", num_threads=nt):
            if in_t is uint8_t:
                snn_avgpool_u8(&x[m, 0, 0, 0], C, H, W, &out[m, 0, 0, 0], Ho, Wo, kh, kw, sh, sw, pt, pl,
                               count_include_pad, channels_last)
            else:
                snn_avgpool_f32(&x[m, 0, 0, 0], C, H, W, &out[m, 0, 0, 0], Ho, Wo, kh, kw, sh, sw, pt, pl,
                                count_include_pad, channels_last)


def maxpool2d(const in_t[:, :, :, ::1] x, in_t[:, :, :, ::1] out, int kh, int kw, int sh, int sw,
              int pt, int pl, int dh, int dw, int threads=0):
    """y = max over the window's elements inside the input (padding never wins; an empty
    window gives -inf for float, 0 for spikes: the caller avoids that case for spikes)."""
    cdef Py_ssize_t M = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t Ho = out.shape[2], Wo = out.shape[3]
    _check(out.shape[0] == M and out.shape[1] == C, "maxpool2d: output shape")
    _check(kh >= 1 and kw >= 1 and sh >= 1 and sw >= 1 and pt >= 0 and pl >= 0 and dh >= 1 and dw >= 1,
           "maxpool2d: attributes")
    if M == 0 or C == 0 or Ho == 0 or Wo == 0:
        return
    if H == 0 or W == 0:
        out[...] = -np.inf if in_t is float else 0
        return
    cdef Py_ssize_t m
    cdef int nt = _nthreads(M, <double>M * C * (H * W + Ho * Wo), threads)
    with nogil:
        for m in prange(M, schedule="static", num_threads=nt):
            if in_t is uint8_t:
                snn_maxpool_u8(&x[m, 0, 0, 0], C, H, W, &out[m, 0, 0, 0], Ho, Wo, kh, kw, sh, sw, pt, pl, dh, dw)
            else:
                snn_maxpool_f32(&x[m, 0, 0, 0], C, H, W, &out[m, 0, 0, 0], Ho, Wo, kh, kw, sh, sw, pt, pl, dh, dw)


def global_avgpool(const in_t[:, :, ::1] x, float[:, ::1] out, int threads=0):
    """x as [M, C, H*W] -> out [M, C]: the sum over H*W divided by H*W."""
    cdef Py_ssize_t M = x.shape[0], C = x.shape[1], S = x.shape[2]
    _check(out.shape[0] == M and out.shape[1] == C, "global_avgpool: output shape")
    cdef Py_ssize_t r, k
    cdef float s
    cdef float n = <float>S
    cdef int nt = _nthreads(M * C, <double>M * C * S, threads)
    with nogil:
        for r in prange(M * C, schedule="static", num_threads=nt):
            s = 0
            for k in range(S):
                s = s + <float>x[r // C, r % C, k]
            out[r // C, r % C] = s / n


def pool_sum(const px_t[:, :, :, ::1] x, po_t[:, :, :, ::1] out, int kh, int kw, int sh, int sw, int pt, int pl,
             int threads=0, bint channels_last=False):
    """Window sums [M, C, H, W] -> [M, C, Ho, Wo] (padding adds 0), or channels_last
    [M, H, W, C] -> [M, Ho, Wo, C]: the fixed-point avgpool2d / global_avgpool
    (power-of-two windows: the sum is the result, spec/ir.md section 6) and the spike
    counts the float mode feeds to a conv. The caller picks an output type that holds
    the worst case (uint8 only for uint8 inputs)."""
    cdef Py_ssize_t M = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t Ho = out.shape[2], Wo = out.shape[3]
    if channels_last:
        H, W, C, Ho, Wo = x.shape[1], x.shape[2], x.shape[3], out.shape[1], out.shape[2]
    _check(out.shape[0] == M and out.shape[3 if channels_last else 1] == C, "pool_sum: output shape")
    _check(kh >= 1 and kw >= 1 and sh >= 1 and sw >= 1 and pt >= 0 and pl >= 0, "pool_sum: attributes")
    _check(sizeof(po_t) >= sizeof(px_t) and (po_t is not uint8_t or <double>kh * kw <= 255),
           "pool_sum: output type narrower than the sums")
    if M == 0 or C == 0 or Ho == 0 or Wo == 0:
        return
    if H == 0 or W == 0:
        np.asarray(out)[...] = 0
        return
    cdef Py_ssize_t m
    cdef int nt = _nthreads(M, <double>M * C * (H * W + Ho * Wo), threads)
    with nogil:
        for m in prange(M, schedule="static", num_threads=nt):
            if px_t is uint8_t:
                if po_t is uint8_t:
                    snn_poolsum_u8_u8(&x[m, 0, 0, 0], C, H, W, &out[m, 0, 0, 0], Ho, Wo, kh, kw, sh, sw, pt, pl,
                                       channels_last)
                elif po_t is int32_t:
                    snn_poolsum_u8_i32(&x[m, 0, 0, 0], C, H, W, &out[m, 0, 0, 0], Ho, Wo, kh, kw, sh, sw, pt, pl,
                                       channels_last)
                else:
                    snn_poolsum_u8_i64(&x[m, 0, 0, 0], C, H, W, &out[m, 0, 0, 0], Ho, Wo, kh, kw, sh, sw, pt, pl,
                                       channels_last)
            elif px_t is int32_t:
                if po_t is int32_t:
                    snn_poolsum_i32_i32(&x[m, 0, 0, 0], C, H, W, &out[m, 0, 0, 0], Ho, Wo, kh, kw, sh, sw, pt, pl,
                                       channels_last)
                elif po_t is int64_t:
                    snn_poolsum_i32_i64(&x[m, 0, 0, 0], C, H, W, &out[m, 0, 0, 0], Ho, Wo, kh, kw, sh, sw, pt, pl,
                                       channels_last)
            else:
                if po_t is int64_t:
                    snn_poolsum_i64_i64(&x[m, 0, 0, 0], C, H, W, &out[m, 0, 0, 0], Ho, Wo, kh, kw, sh, sw, pt, pl,
                                       channels_last)


# ----------------------------------------------------------------------------- add / mul

def binary(const a_t[:, :, :, :] a, const b_t[:, :, :, :] b, float[:, :, :, ::1] out, bint multiply, int threads=0):
    """out = a + b (or a * b) elementwise; a and b are views of out's shape whose strides
    may be 0 (numpy broadcasting, prepared by the caller)."""
    cdef Py_ssize_t n0 = out.shape[0], n1 = out.shape[1], n2 = out.shape[2], n3 = out.shape[3]
    cdef int d
    for d in range(4):
        _check(a.shape[d] == out.shape[d] and b.shape[d] == out.shape[d], "binary: operand shapes")
    if n0 == 0 or n1 == 0 or n2 == 0 or n3 == 0:
        return
    cdef Py_ssize_t as0 = a.strides[0] // sizeof(a_t), as1 = a.strides[1] // sizeof(a_t)
    cdef Py_ssize_t as2 = a.strides[2] // sizeof(a_t), as3 = a.strides[3] // sizeof(a_t)
    cdef Py_ssize_t bs0 = b.strides[0] // sizeof(b_t), bs1 = b.strides[1] // sizeof(b_t)
    cdef Py_ssize_t bs2 = b.strides[2] // sizeof(b_t), bs3 = b.strides[3] // sizeof(b_t)
    cdef const a_t* ab = &a[0, 0, 0, 0]
    cdef const b_t* bb = &b[0, 0, 0, 0]
    cdef Py_ssize_t r, i0, i1, i2, k
    cdef const a_t* ap
    cdef const b_t* bp
    cdef float* op
    cdef float bv
    cdef int nt = _nthreads(n0 * n1, <double>n0 * n1 * n2 * n3, threads)
    with nogil:
        for r in prange(n0 * n1, schedule="static", num_threads=nt):
            i0 = r // n1
            i1 = r % n1
            for i2 in range(n2):
                ap = ab + i0 * as0 + i1 * as1 + i2 * as2
                bp = bb + i0 * bs0 + i1 * bs1 + i2 * bs2
                op = &out[i0, i1, i2, 0]
                if as3 == 1 and bs3 == 1:
                    if multiply:
                        for k in range(n3):
                            op[k] = <float>ap[k] * <float>bp[k]
                    else:
                        for k in range(n3):
                            op[k] = <float>ap[k] + <float>bp[k]
                elif as3 == 1 and bs3 == 0:
                    bv = <float>bp[0]
                    if multiply:
                        for k in range(n3):
                            op[k] = <float>ap[k] * bv
                    else:
                        for k in range(n3):
                            op[k] = <float>ap[k] + bv
                else:
                    if multiply:
                        for k in range(n3):
                            op[k] = <float>ap[k * as3] * <float>bp[k * bs3]
                    else:
                        for k in range(n3):
                            op[k] = <float>ap[k * as3] + <float>bp[k * bs3]


def binary_fixed(const px_t[:, :, :, :] a, const py_t[:, :, :, :] b, po_t[:, :, :, ::1] out, int sa, int sb,
                 bint multiply, int threads=0):
    """Fixed-point add / mul (spec/ir.md section 6): out = (a << sa) + (b << sb), or a * b,
    in the integers of `out` (int32 or int64: the caller's bound on the result fits, so
    no intermediate overflows either). a and b are views of out's shape whose strides may
    be 0 (numpy broadcasting, prepared by the caller), like `binary`."""
    cdef Py_ssize_t n0 = out.shape[0], n1 = out.shape[1], n2 = out.shape[2], n3 = out.shape[3]
    cdef int d
    if po_t is uint8_t:
        raise ValueError("spiking_kernels: binary_fixed: the output must be int32 or int64")
    for d in range(4):
        _check(a.shape[d] == out.shape[d] and b.shape[d] == out.shape[d], "binary_fixed: operand shapes")
    _check(0 <= sa < 63 and 0 <= sb < 63, "binary_fixed: shifts")
    if n0 == 0 or n1 == 0 or n2 == 0 or n3 == 0:
        return
    cdef Py_ssize_t as0 = a.strides[0] // sizeof(px_t), as1 = a.strides[1] // sizeof(px_t)
    cdef Py_ssize_t as2 = a.strides[2] // sizeof(px_t), as3 = a.strides[3] // sizeof(px_t)
    cdef Py_ssize_t bs0 = b.strides[0] // sizeof(py_t), bs1 = b.strides[1] // sizeof(py_t)
    cdef Py_ssize_t bs2 = b.strides[2] // sizeof(py_t), bs3 = b.strides[3] // sizeof(py_t)
    cdef const px_t* ab = &a[0, 0, 0, 0]
    cdef const py_t* bb = &b[0, 0, 0, 0]
    cdef Py_ssize_t r, i0, i1, i2, k
    cdef const px_t* ap
    cdef const py_t* bp
    cdef po_t* op
    cdef po_t bv
    cdef po_t fa = (<po_t>1) << sa, fb = (<po_t>1) << sb   # shifts as products: defined for negatives
    cdef int nt = _nthreads(n0 * n1, <double>n0 * n1 * n2 * n3, threads)
    with nogil:
        for r in prange(n0 * n1, schedule="static", num_threads=nt):
            i0 = r // n1
            i1 = r % n1
            for i2 in range(n2):
                ap = ab + i0 * as0 + i1 * as1 + i2 * as2
                bp = bb + i0 * bs0 + i1 * bs1 + i2 * bs2
                op = &out[i0, i1, i2, 0]
                if as3 == 1 and bs3 == 1:
                    if multiply:
                        for k in range(n3):
                            op[k] = <po_t>ap[k] * <po_t>bp[k]
                    else:
                        for k in range(n3):
                            op[k] = <po_t>ap[k] * fa + <po_t>bp[k] * fb
                elif as3 == 1 and bs3 == 0:
                    if multiply:
                        bv = <po_t>bp[0]
                        for k in range(n3):
                            op[k] = <po_t>ap[k] * bv
                    else:
                        bv = <po_t>bp[0] * fb
                        for k in range(n3):
                            op[k] = <po_t>ap[k] * fa + bv
                else:
                    if multiply:
                        for k in range(n3):
                            op[k] = <po_t>ap[k * as3] * <po_t>bp[k * bs3]
                    else:
                        for k in range(n3):
                            op[k] = <po_t>ap[k * as3] * fa + <po_t>bp[k * bs3] * fb


# ----------------------------------------------------------------------------- neurons

def if_neuron(const in_t[:, :, ::1] x, const float[::1] threshold, const float[::1] v0,
              uint8_t[:, :, ::1] out, int64_t[::1] counts, bint reset_zero, int threads=0):
    """Integrate-and-fire over T steps for a batch: x [B, T, S] (or [B, 1, S]: the same
    current every step) -> spikes out [B, T, S]; counts[b] = spikes of sample b.

        v = v0;  for t: v += x_t;  s = v >= threshold;  v -= s*threshold (or v = 0 where s)

    threshold and v0 are given per element ([S], already broadcast)."""
    cdef Py_ssize_t B = out.shape[0], T = out.shape[1], S = out.shape[2]
    _check(x.shape[0] == B and x.shape[2] == S and (x.shape[1] == T or x.shape[1] == 1), "if: input shape")
    _check(threshold.shape[0] == S and v0.shape[0] == S, "if: threshold/v0 shape")
    _check(counts.shape[0] == B, "if: counts shape")
    if B == 0 or T == 0 or S == 0:
        counts[:] = 0
        return
    cdef Py_ssize_t xs1 = (x.strides[1] // sizeof(in_t)) if (x.shape[1] == T and T > 1) else 0
    cdef int nth = 1 if threads == 1 else openmp.omp_get_max_threads()   # rows of per-thread scratch
    cdef float[:, ::1] vbuf = np.empty((nth, S), dtype=np.float32)
    cdef Py_ssize_t b, i
    cdef int tid
    cdef float* v
    cdef int nt = _nthreads(B, <double>B * T * S, threads)
    with nogil:
        for b in prange(B, schedule="static", num_threads=nt):
            tid = threadid()
            v = &vbuf[tid, 0]
            for i in range(S):
                v[i] = v0[i]
            if in_t is uint8_t:
                counts[b] = snn_if_u8(&x[b, 0, 0], xs1, T, S, &threshold[0], v, &out[b, 0, 0], reset_zero)
            else:
                counts[b] = snn_if_f32(&x[b, 0, 0], xs1, T, S, &threshold[0], v, &out[b, 0, 0], reset_zero)


def gated_maxpool2d(const in_t[:, :, :, :, ::1] x, in_t[:, :, :, :, ::1] out, int kh, int kw, int sh, int sw,
                    int pt, int pl, int dh, int dw, int threads=0):
    """Spiking max pooling (op gated_maxpool2d) over T steps: acc += x_t (f32, acc_0 = x_0);
    in every window the output is x_t at the position whose acc is largest (the first
    such position in row-major window order; padding has acc -inf and x 0).
    x is [B, T, C, H, W] or [B, 1, C, H, W] (the same every step); out is [B, T, C, Ho, Wo]."""
    cdef Py_ssize_t B = out.shape[0], T = out.shape[1], C = out.shape[2], Ho = out.shape[3], Wo = out.shape[4]
    cdef Py_ssize_t H = x.shape[3], W = x.shape[4]
    _check(x.shape[0] == B and x.shape[2] == C and (x.shape[1] == T or x.shape[1] == 1), "gated_maxpool2d: input shape")
    _check(kh >= 1 and kw >= 1 and sh >= 1 and sw >= 1 and pt >= 0 and pl >= 0 and dh >= 1 and dw >= 1,
           "gated_maxpool2d: attributes")
    if B == 0 or T == 0 or C == 0 or Ho == 0 or Wo == 0:
        return
    if H == 0 or W == 0:
        out[...] = 0
        return
    cdef Py_ssize_t S = C * H * W
    cdef Py_ssize_t xs1 = (x.strides[1] // sizeof(in_t)) if (x.shape[1] == T and T > 1) else 0
    cdef int nth = 1 if threads == 1 else openmp.omp_get_max_threads()   # rows of per-thread scratch
    cdef float[:, ::1] accbuf = np.empty((nth, S), dtype=np.float32)
    cdef float[:, ::1] bestbuf = np.empty((nth, Wo), dtype=np.float32)
    cdef Py_ssize_t b
    cdef int tid
    cdef int nt = _nthreads(B, <double>B * T * S * 2, threads)
    with nogil:
        for b in prange(B, schedule="static", num_threads=nt):
            tid = threadid()
            if in_t is uint8_t:
                snn_gated_u8(&x[b, 0, 0, 0, 0], xs1, T, C, H, W, &out[b, 0, 0, 0, 0], Ho, Wo, kh, kw, sh, sw, pt, pl,
                             dh, dw, &accbuf[tid, 0], &bestbuf[tid, 0])
            else:
                snn_gated_f32(&x[b, 0, 0, 0, 0], xs1, T, C, H, W, &out[b, 0, 0, 0, 0], Ho, Wo, kh, kw, sh, sw, pt,
                              pl, dh, dw, &accbuf[tid, 0], &bestbuf[tid, 0])


def readout_sum(const in_t[:, :, ::1] x, float[:, :, ::1] out, Py_ssize_t T, bint keep_all, int threads=0):
    """acc_0 = x_0, acc_t = acc_{t-1} + x_t (f32, in order of t), for T steps.
    x is [B, T, S] or [B, 1, S] (the same input every step). out is [B, T, S] with every
    partial sum (keep_all) or [B, 1, S] with only acc_{T-1}."""
    cdef Py_ssize_t B = x.shape[0], S = x.shape[2]
    _check(T >= 1, "readout: T >= 1")
    _check(x.shape[1] == T or x.shape[1] == 1, "readout: input steps")
    _check(out.shape[0] == B and out.shape[2] == S and out.shape[1] == (T if keep_all else 1), "readout: output shape")
    if B == 0 or S == 0:
        return
    cdef Py_ssize_t xs1 = (x.strides[1] // sizeof(in_t)) if (x.shape[1] == T and T > 1) else 0
    cdef Py_ssize_t os1 = S if keep_all else 0
    cdef Py_ssize_t b, t, i
    cdef const in_t* xr
    cdef float* acc
    cdef float* prev
    cdef int nt = _nthreads(B, <double>B * T * S, threads)
    with nogil:
        for b in prange(B, schedule="static", num_threads=nt):
            xr = &x[b, 0, 0]
            acc = &out[b, 0, 0]
            for i in range(S):
                acc[i] = <float>xr[i]
            for t in range(1, T):
                xr = &x[b, 0, 0] + t * xs1
                prev = acc
                acc = &out[b, 0, 0] + t * os1
                for i in range(S):
                    acc[i] = prev[i] + <float>xr[i]


# ----------------------------------------------------------------------------- rate encoding

cdef inline uint32_t _fmix_seed(uint32_t seed) noexcept nogil:
    cdef uint32_t h = seed ^ <uint32_t>0x9E3779B9
    h ^= h >> 16
    h = h * <uint32_t>0x85EBCA6B
    h ^= h >> 13
    h = h * <uint32_t>0xC2B2AE35
    h ^= h >> 16
    return h if h != 0 else 1


def prng_initial_state(uint32_t seed):
    """init(seed) of spec/ir.md 5.2 (must equal sncc.interpreter.prng_initial_state)."""
    return _fmix_seed(seed)


def xorshift_u24(uint32_t seed, Py_ssize_t count):
    """u_k = r_k >> 8 for the draws k = 0 .. count-1 of spec/ir.md 5.2, as uint32."""
    _check(count >= 0, "xorshift_u24: count")
    out = np.empty(count, dtype=np.uint32)
    cdef uint32_t[::1] o = out
    cdef uint32_t s = _fmix_seed(seed)
    cdef Py_ssize_t k
    with nogil:
        for k in range(count):
            s ^= s << 13
            s ^= s >> 17
            s ^= s << 5
            o[k] = s >> 8
    return out



def encode_rate(const float[:, :, ::1] x, const uint32_t[:, ::1] u, uint8_t[:, :, ::1] out, int threads=0):
    """Rate encoding: out[b, t, e] = 1 iff u[t, e] < clip(x[b, t, e], 0, 1) * 2^24, with
    u[t, e] = r_{t*n+e} >> 8 (xorshift_u24 reshaped [T, n]). x is [B, T, n] or [B, 1, n]."""
    cdef Py_ssize_t B = out.shape[0], T = out.shape[1], n = out.shape[2]
    _check(x.shape[0] == B and x.shape[2] == n and (x.shape[1] == T or x.shape[1] == 1), "encode: input shape")
    _check(u.shape[0] == T and u.shape[1] == n, "encode: random table shape")
    if B == 0 or T == 0 or n == 0:
        return
    cdef Py_ssize_t xs1 = (x.strides[1] // sizeof(float)) if (x.shape[1] == T and T > 1) else 0
    cdef int nth = 1 if threads == 1 else openmp.omp_get_max_threads()   # rows of per-thread scratch
    cdef uint32_t[:, ::1] thr = np.empty((nth, n), dtype=np.uint32)
    cdef Py_ssize_t b
    cdef int tid
    cdef int nt = _nthreads(B, <double>B * T * n, threads)
    with nogil:
        for b in prange(B, schedule="static", num_threads=nt):
            tid = threadid()
            snn_encode_rate(&x[b, 0, 0], xs1, T, n, &u[0, 0], &thr[tid, 0], &out[b, 0, 0])


# ----------------------------------------------------------------------------- fixed point
# Exact integer kernels of spec/ir.md section 6 (the CPU simulator's mode="fixed"). The
# caller picks int32 accumulators only where the worst case fits in them.

def dense_fixed(const qx_t[:, ::1] x, const qa_t[:, ::1] wt, const qa_t[::1] bias, qa_t[:, ::1] out, int threads=0):
    """out[m, n] = sum_k x[m, k] * wt[k, n] + bias[n] in integers; wt is the transposed
    weight [K, Np], Np >= N a multiple of 16 (zero padding); bias may have length 0.
    int32: event driven (spikes) or zero-skipping (integers); int64: zero-skipping loops.
    int32 accumulators take uint8 or int32 inputs."""
    cdef Py_ssize_t M = x.shape[0], K = x.shape[1], N = out.shape[1], ldw = wt.shape[1]
    _check(wt.shape[0] == K, "dense_fixed: weight rows != input features")
    _check(out.shape[0] == M and ldw % 16 == 0 and N <= ldw < N + 16, "dense_fixed: output shape")
    _check(bias.shape[0] == 0 or bias.shape[0] == N, "dense_fixed: bias shape")
    _check(K >= 1, "dense_fixed: no input features")
    if qa_t is int32_t and qx_t is int64_t:
        raise ValueError("spiking_kernels: dense_fixed: int32 accumulators need uint8 or int32 inputs")
    if M == 0 or N == 0:
        return
    cdef const qa_t* bp = &bias[0] if bias.shape[0] == N else NULL
    cdef int nth = 1 if threads == 1 else openmp.omp_get_max_threads()
    cdef int32_t[:, ::1] idx = np.empty((nth, K + 16), dtype=np.int32)
    cdef int32_t[:, ::1] vals = np.empty((nth, K + 16 if qx_t is int32_t else 1), dtype=np.int32)
    cdef Py_ssize_t rows = DENSE_ROWS
    cdef Py_ssize_t nblk = (M + rows - 1) // rows
    cdef Py_ssize_t blk, r0, r1
    cdef int tid
    cdef int nt = _nthreads(nblk, <double>M * (K + N) * 8, threads)
    with nogil:
        for blk in prange(nblk, schedule="static", num_threads=nt):
            tid = threadid()
            r0 = blk * rows
            r1 = min(M, r0 + rows)
            if qa_t is int32_t:
                if qx_t is uint8_t:
                    snn_dense_u8_i32(&x[r0, 0], r1 - r0, K, &wt[0, 0], N, ldw, bp, &out[r0, 0], &idx[tid, 0])
                elif qx_t is int32_t:
                    snn_dense_i32_i32(&x[r0, 0], r1 - r0, K, &wt[0, 0], N, ldw, bp, &out[r0, 0], &idx[tid, 0],
                                      &vals[tid, 0])
            else:
                if qx_t is uint8_t:
                    snn_dense_i64_u8(&x[r0, 0], r1 - r0, K, &wt[0, 0], N, ldw, bp, &out[r0, 0])
                elif qx_t is int32_t:
                    snn_dense_i64_i32(&x[r0, 0], r1 - r0, K, &wt[0, 0], N, ldw, bp, &out[r0, 0])
                else:
                    snn_dense_i64_i64(&x[r0, 0], r1 - r0, K, &wt[0, 0], N, ldw, bp, &out[r0, 0])


def dense_fixed_exact_f32(const int32_t[:, ::1] x, const float[:, ::1] wt, const int32_t[::1] bias,
                          int32_t[:, ::1] out, int64_t block, int threads=0):
    """Integer dense (like dense_fixed) on int32 rows through exact f32 arithmetic: the
    caller guarantees |x| * max|w| * block < 2^24 (so f32 sums of `block` active inputs are
    exact) and that the int32 results cannot overflow. wt: float32 [K, Np] (dense_weight_layout)."""
    cdef Py_ssize_t M = x.shape[0], K = x.shape[1], N = out.shape[1], ldw = wt.shape[1]
    _check(wt.shape[0] == K, "dense_fixed: weight rows != input features")
    _check(out.shape[0] == M and ldw % 16 == 0 and N <= ldw < N + 16, "dense_fixed: output shape")
    _check(bias.shape[0] == 0 or bias.shape[0] == N, "dense_fixed: bias shape")
    _check(K >= 1 and block >= 1, "dense_fixed: no input features / block")
    if M == 0 or N == 0:
        return
    cdef const int32_t* bp = &bias[0] if bias.shape[0] == N else NULL
    cdef int nth = 1 if threads == 1 else openmp.omp_get_max_threads()
    cdef int32_t[:, ::1] idx = np.empty((nth, K + 16), dtype=np.int32)
    cdef float[:, ::1] vals = np.empty((nth, K + 16), dtype=np.float32)
    cdef float[:, ::1] xf = np.empty((nth, K), dtype=np.float32)
    cdef Py_ssize_t rows = DENSE_ROWS
    cdef Py_ssize_t nblk = (M + rows - 1) // rows
    cdef Py_ssize_t blk, r0, r1
    cdef int tid
    cdef int nt = _nthreads(nblk, <double>M * (K + N) * 8, threads)
    with nogil:
        for blk in prange(nblk, schedule="static", num_threads=nt):
            tid = threadid()
            r0 = blk * rows
            r1 = min(M, r0 + rows)
            snn_dense_i32_f32x(&x[r0, 0], r1 - r0, K, &wt[0, 0], N, ldw, bp, &out[r0, 0], &idx[tid, 0],
                               &vals[tid, 0], &xf[tid, 0], block)


def if_neuron_fixed(const qx_t[:, :, ::1] x, const qa_t[::1] threshold, const qa_t[::1] v0,
                    uint8_t[:, :, ::1] out, int64_t[::1] counts, int64_t lo, int64_t hi, bint reset_zero,
                    int threads=0):
    """Integer integrate-and-fire over T steps (spec/ir.md section 6): x [B, T|1, S];
    v = v0; for t: v = clamp(v + x_t, lo, hi); s = v >= threshold; reset. int32 membranes
    only where the caller knows v + x fits (int64 inputs need int64 membranes)."""
    cdef Py_ssize_t B = out.shape[0], T = out.shape[1], S = out.shape[2]
    _check(x.shape[0] == B and x.shape[2] == S and (x.shape[1] == T or x.shape[1] == 1), "if_fixed: input shape")
    _check(threshold.shape[0] == S and v0.shape[0] == S, "if_fixed: threshold/v0 shape")
    _check(counts.shape[0] == B, "if_fixed: counts shape")
    if qa_t is int32_t and qx_t is int64_t:
        raise ValueError("spiking_kernels: if_fixed: int64 inputs need int64 membranes")
    if B == 0 or T == 0 or S == 0:
        counts[:] = 0
        return
    cdef Py_ssize_t xs1 = (x.strides[1] // sizeof(qx_t)) if (x.shape[1] == T and T > 1) else 0
    cdef int nth = 1 if threads == 1 else openmp.omp_get_max_threads()
    vbuf_arr = np.empty((nth, S), dtype=np.int32 if qa_t is int32_t else np.int64)
    cdef qa_t[:, ::1] vbuf = vbuf_arr
    cdef Py_ssize_t b, i
    cdef int tid
    cdef qa_t* v
    cdef int nt = _nthreads(B, <double>B * T * S, threads)
    with nogil:
        for b in prange(B, schedule="static", num_threads=nt):
            tid = threadid()
            v = &vbuf[tid, 0]
            for i in range(S):
                v[i] = v0[i]
            if qa_t is int32_t:
                if qx_t is uint8_t:
                    counts[b] = snn_ifq_u8_i32(&x[b, 0, 0], xs1, T, S, &threshold[0], v, &out[b, 0, 0], lo, hi,
                                               reset_zero)
                elif qx_t is int32_t:
                    counts[b] = snn_ifq_i32_i32(&x[b, 0, 0], xs1, T, S, &threshold[0], v, &out[b, 0, 0], lo, hi,
                                                reset_zero)
            else:
                if qx_t is uint8_t:
                    counts[b] = snn_ifq_u8_i64(&x[b, 0, 0], xs1, T, S, &threshold[0], v, &out[b, 0, 0], lo, hi,
                                               reset_zero)
                elif qx_t is int32_t:
                    counts[b] = snn_ifq_i32_i64(&x[b, 0, 0], xs1, T, S, &threshold[0], v, &out[b, 0, 0], lo, hi,
                                                reset_zero)
                else:
                    counts[b] = snn_ifq_i64_i64(&x[b, 0, 0], xs1, T, S, &threshold[0], v, &out[b, 0, 0], lo, hi,
                                                reset_zero)


def readout_sum_fixed(const qx_t[:, :, ::1] x, int64_t[:, :, ::1] out, Py_ssize_t T, bint keep_all, int threads=0):
    """readout_sum in int64: acc_t = acc_{t-1} + x_t; out [B, T, S] (keep_all) or [B, 1, S]."""
    cdef Py_ssize_t B = x.shape[0], S = x.shape[2]
    _check(T >= 1, "readout_fixed: T >= 1")
    _check(x.shape[1] == T or x.shape[1] == 1, "readout_fixed: input steps")
    _check(out.shape[0] == B and out.shape[2] == S and out.shape[1] == (T if keep_all else 1),
           "readout_fixed: output shape")
    if B == 0 or S == 0:
        return
    cdef Py_ssize_t xs1 = (x.strides[1] // sizeof(qx_t)) if (x.shape[1] == T and T > 1) else 0
    cdef Py_ssize_t os1 = S if keep_all else 0
    cdef Py_ssize_t b, t, i
    cdef const qx_t* xr
    cdef int64_t* acc
    cdef int64_t* prev
    cdef int nt = _nthreads(B, <double>B * T * S, threads)
    with nogil:
        for b in prange(B, schedule="static", num_threads=nt):
            xr = &x[b, 0, 0]
            acc = &out[b, 0, 0]
            for i in range(S):
                acc[i] = <int64_t>xr[i]
            for t in range(1, T):
                xr = &x[b, 0, 0] + t * xs1
                prev = acc
                acc = &out[b, 0, 0] + t * os1
                for i in range(S):
                    acc[i] = prev[i] + <int64_t>xr[i]


def encode_rate_fixed(const uint32_t[:, :, ::1] thr, const uint32_t[:, ::1] u, uint8_t[:, :, ::1] out, int threads=0):
    """Fixed-point rate encoding: out[b, t, e] = 1 iff u[t, e] < thr[b, t, e], with
    thr = clamp(q, 0, 2^F) << (24 - F) (computed by the caller); thr is [B, T, n] or [B, 1, n]."""
    cdef Py_ssize_t B = out.shape[0], T = out.shape[1], n = out.shape[2]
    _check(thr.shape[0] == B and thr.shape[2] == n and (thr.shape[1] == T or thr.shape[1] == 1),
           "encode_fixed: input shape")
    _check(u.shape[0] == T and u.shape[1] == n, "encode_fixed: random table shape")
    if B == 0 or T == 0 or n == 0:
        return
    cdef Py_ssize_t xs1 = (thr.strides[1] // sizeof(uint32_t)) if (thr.shape[1] == T and T > 1) else 0
    cdef Py_ssize_t b
    cdef int nt = _nthreads(B, <double>B * T * n, threads)
    with nogil:
        for b in prange(B, schedule="static", num_threads=nt):
            snn_encode_rate_q(&thr[b, 0, 0], xs1, T, n, &u[0, 0], &out[b, 0, 0])


ctypedef fused qin_t:
    float
    double


def quantize_input(const qin_t[::1] x, int frac, int64_t lo, int64_t hi, qa_t[::1] out, int threads=0):
    """out = clamp(floor(x * 2^frac + 1/2), lo, hi) evaluated in double precision
    (spec/ir.md section 6 `input`; the operations of sncc.interpreter.quantize_input).
    Returns the number of non-finite inputs (their outputs are unspecified: the caller
    raises)."""
    cdef Py_ssize_t n = x.shape[0]
    _check(out.shape[0] == n, "quantize_input: output shape")
    if n == 0:
        return 0
    cdef double scale = ldexp(1.0, frac)
    cdef Py_ssize_t blk = 16384
    cdef Py_ssize_t nblk = (n + blk - 1) // blk, b, i0, m
    cdef int64_t bad = 0
    cdef int nt = _nthreads(nblk, <double>n * 4, threads)
    with nogil:
        for b in prange(nblk, schedule="static", num_threads=nt):
            i0 = b * blk
            m = min(blk, n - i0)
            if qin_t is float:
                if qa_t is int32_t:
                    bad += snn_quant_f32_i32(&x[i0], m, scale, lo, hi, &out[i0])
                else:
                    bad += snn_quant_f32_i64(&x[i0], m, scale, lo, hi, &out[i0])
            else:
                if qa_t is int32_t:
                    bad += snn_quant_f64_i32(&x[i0], m, scale, lo, hi, &out[i0])
                else:
                    bad += snn_quant_f64_i64(&x[i0], m, scale, lo, hi, &out[i0])
    return bad
