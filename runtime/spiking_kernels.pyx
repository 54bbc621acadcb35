# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False, nonecheck=False
"""float32 kernels of the CPU simulator (sncc.backends.cpu).

Every kernel works on a batch of *rows*: one row is one sample at one timestep (the
simulator flattens [batch, T, ...] into rows), so the time loop of a feed-forward
spiking network becomes a batch dimension of the stateless ops. The stateful ops
(`if`, `readout`, rate `encode`) take [batch, T, S] (or [batch, 1, S] for an input that
is the same at every step) and run their time loop inside.

Inputs are float32 or uint8 (spikes, 0/1): the fused type `in_t`. Spike inputs of the
linear ops are exploited as events: only the inputs that are non-zero are visited (dense:
rows of the transposed weight [K, N] are accumulated; conv2d: each non-zero input pixel
scatters its kernel into a channels-last accumulator).

Shapes are checked here (ValueError on a mismatch) before any loop runs: the loops never
read or write out of bounds. Parallelism is over rows (OpenMP `prange`), without the GIL.
The semantics are those of spec/ir.md (sections 4 and 5); summation order may differ
from the reference interpreter (rounding only).
"""
from cython.parallel cimport prange, threadid
from libc.stdint cimport uint8_t, uint32_t, int32_t, int64_t
from libc.math cimport INFINITY
cimport openmp

import numpy as np

ctypedef fused in_t:
    uint8_t
    float

ctypedef fused a_t:
    uint8_t
    float

ctypedef fused b_t:
    uint8_t
    float

cdef enum:
    TILE = 32


def max_threads():
    """The number of OpenMP threads a parallel region may use."""
    return openmp.omp_get_max_threads()


def set_num_threads(int n):
    openmp.omp_set_num_threads(n)


cdef inline void _check(bint ok, str what) except *:
    if not ok:
        raise ValueError("spiking_kernels: " + what)


# ----------------------------------------------------------------------------- dense

cdef inline void _accumulate_rows(float* o, const float* wt, Py_ssize_t N, const int32_t* idx,
                                  const float* val, Py_ssize_t cnt) noexcept nogil:
    """o[n] = sum_j val[j] * wt[idx[j], n] (val NULL: all ones). TILE outputs at a time
    stay in a local accumulator (registers) while the selected weight rows stream by."""
    cdef float acc[TILE]
    cdef Py_ssize_t n0 = 0, n, j, rem
    cdef const float* w
    cdef float v
    while n0 + TILE <= N:
        for n in range(TILE):
            acc[n] = 0
        if val == NULL:
            for j in range(cnt):
                w = wt + idx[j] * N + n0
                for n in range(TILE):
                    acc[n] += w[n]
        else:
            for j in range(cnt):
                w = wt + idx[j] * N + n0
                v = val[j]
                for n in range(TILE):
                    acc[n] += v * w[n]
        for n in range(TILE):
            o[n0 + n] = acc[n]
        n0 += TILE
    rem = N - n0
    if rem > 0:
        for n in range(rem):
            acc[n] = 0
        for j in range(cnt):
            w = wt + idx[j] * N + n0
            v = 1 if val == NULL else val[j]
            for n in range(rem):
                acc[n] += v * w[n]
        for n in range(rem):
            o[n0 + n] = acc[n]


def dense(const in_t[:, ::1] x, const float[:, ::1] wt, const float[::1] bias, float[:, ::1] out):
    """out[m, n] = sum_k x[m, k] * wt[k, n] (+ bias[n]); wt is the transposed weight [K, N].

    Zero inputs are skipped (spikes: the weight rows of the inputs that fired are added).
    `bias` may have length 0 (no bias)."""
    cdef Py_ssize_t M = x.shape[0], K = x.shape[1], N = wt.shape[1]
    _check(wt.shape[0] == K, "dense: weight rows != input features")
    _check(out.shape[0] == M and out.shape[1] == N, "dense: output shape")
    _check(bias.shape[0] == 0 or bias.shape[0] == N, "dense: bias shape")
    if M == 0 or N == 0:
        return
    cdef bint has_bias = bias.shape[0] == N
    cdef int nth = openmp.omp_get_max_threads()
    cdef int32_t[:, ::1] idx = np.empty((nth, max(K, 1)), dtype=np.int32)
    cdef float[:, ::1] vals = np.empty((nth, max(K, 1)), dtype=np.float32)
    cdef Py_ssize_t m, k, n, cnt
    cdef int tid
    cdef int32_t* ip
    cdef float* vp
    cdef float* o
    cdef const in_t* xr
    with nogil:
        for m in prange(M, schedule="static"):
            tid = threadid()
            ip = &idx[tid, 0]
            vp = &vals[tid, 0]
            xr = &x[m, 0]
            cnt = 0
            for k in range(K):              # branch-free compaction of the non-zero inputs
                ip[cnt] = <int32_t>k
                vp[cnt] = <float>xr[k]
                cnt = cnt + (xr[k] != 0)
            o = &out[m, 0]
            if in_t is uint8_t:
                _accumulate_rows(o, &wt[0, 0], N, ip, NULL, cnt)
            else:
                _accumulate_rows(o, &wt[0, 0], N, ip, vp, cnt)
            if has_bias:
                for n in range(N):
                    o[n] = o[n] + bias[n]


# ----------------------------------------------------------------------------- conv2d

def conv2d(const in_t[:, :, :, ::1] x, const float[:, :, :, ::1] wt, const float[::1] bias,
           float[:, :, :, ::1] out, int sh, int sw, int pt, int pl, int dh, int dw, int groups):
    """ONNX Conv on rows [M, C, H, W] -> [M, O, Ho, Wo]; wt is [C, kh, kw, O/groups]
    (wt[c, p, q, o'] = weight[g*Og + o', c - g*Cg, p, q] with g = c // Cg).

    Event driven: every non-zero input pixel adds value * kernel to the outputs it reaches,
    in a channels-last accumulator [Ho, Wo, O] (contiguous over the output channels of the
    group), which is then transposed into out (+ bias)."""
    cdef Py_ssize_t M = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t kh = wt.shape[1], kw = wt.shape[2], Og = wt.shape[3]
    cdef Py_ssize_t O = out.shape[1], Ho = out.shape[2], Wo = out.shape[3]
    _check(groups >= 1 and sh >= 1 and sw >= 1 and dh >= 1 and dw >= 1 and pt >= 0 and pl >= 0, "conv2d: attributes")
    _check(wt.shape[0] == C and C % groups == 0 and Og * groups == O, "conv2d: weight shape")
    _check(out.shape[0] == M, "conv2d: output rows")
    _check(bias.shape[0] == 0 or bias.shape[0] == O, "conv2d: bias shape")
    if M == 0 or O == 0:
        return
    cdef Py_ssize_t Cg = C // groups
    cdef bint has_bias = bias.shape[0] == O
    cdef int nth = openmp.omp_get_max_threads()
    cdef float[:, ::1] accbuf = np.empty((nth, Ho * Wo * O), dtype=np.float32)
    cdef Py_ssize_t m, c, h, w_, p, q, ih, iw, i, j, oo, obase, s, o
    cdef int tid
    cdef float v
    cdef float* acc
    cdef float* a
    cdef const float* wp
    cdef const in_t* xc
    cdef float* orow
    with nogil:
        for m in prange(M, schedule="static"):
            tid = threadid()
            acc = &accbuf[tid, 0]
            for s in range(Ho * Wo * O):
                acc[s] = 0
            for c in range(C):
                obase = (c // Cg) * Og
                xc = &x[m, c, 0, 0]
                for h in range(H):
                    for w_ in range(W):
                        v = <float>xc[h * W + w_]
                        if v == 0:
                            continue
                        for p in range(kh):
                            ih = h + pt - p * dh
                            if ih < 0:
                                break
                            if ih % sh != 0:
                                continue
                            i = ih // sh
                            if i >= Ho:
                                continue
                            for q in range(kw):
                                iw = w_ + pl - q * dw
                                if iw < 0:
                                    break
                                if iw % sw != 0:
                                    continue
                                j = iw // sw
                                if j >= Wo:
                                    continue
                                a = acc + (i * Wo + j) * O + obase
                                wp = &wt[c, p, q, 0]
                                if in_t is uint8_t:
                                    for oo in range(Og):
                                        a[oo] += wp[oo]
                                else:
                                    for oo in range(Og):
                                        a[oo] += v * wp[oo]
            for o in range(O):
                orow = &out[m, o, 0, 0]
                if has_bias:
                    for s in range(Ho * Wo):
                        orow[s] = acc[s * O + o] + bias[o]
                else:
                    for s in range(Ho * Wo):
                        orow[s] = acc[s * O + o]


# ----------------------------------------------------------------------------- pooling

def avgpool2d(const in_t[:, :, :, ::1] x, float[:, :, :, ::1] out, int kh, int kw, int sh, int sw,
              int pt, int pl, bint count_include_pad):
    """y = (sum of the window's elements inside the input) / N, N = kh*kw if
    count_include_pad else the number of those elements (spec/ir.md avgpool2d)."""
    cdef Py_ssize_t M = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t Ho = out.shape[2], Wo = out.shape[3]
    _check(out.shape[0] == M and out.shape[1] == C, "avgpool2d: output shape")
    _check(kh >= 1 and kw >= 1 and sh >= 1 and sw >= 1 and pt >= 0 and pl >= 0, "avgpool2d: attributes")
    cdef Py_ssize_t r, i, j, p, q, h, w_, h0, h1, w0, w1
    cdef float s, n
    cdef const in_t* xc
    with nogil:
        for r in prange(M * C, schedule="static"):
            xc = &x[r // C, r % C, 0, 0]
            for i in range(Ho):
                h0 = i * sh - pt
                h1 = h0 + kh
                if h0 < 0:
                    h0 = 0
                if h1 > H:
                    h1 = H
                for j in range(Wo):
                    w0 = j * sw - pl
                    w1 = w0 + kw
                    if w0 < 0:
                        w0 = 0
                    if w1 > W:
                        w1 = W
                    s = 0
                    for h in range(h0, h1):
                        for w_ in range(w0, w1):
                            s = s + <float>xc[h * W + w_]
                    if count_include_pad:
                        n = <float>(kh * kw)
                    else:
                        n = <float>((h1 - h0) * (w1 - w0))
                    out[r // C, r % C, i, j] = s / n


def maxpool2d(const in_t[:, :, :, ::1] x, in_t[:, :, :, ::1] out, int kh, int kw, int sh, int sw,
              int pt, int pl, int dh, int dw):
    """y = max over the window's elements inside the input (padding never wins; an empty
    window gives -inf for float, 0 for spikes: the caller avoids that case for spikes)."""
    cdef Py_ssize_t M = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t Ho = out.shape[2], Wo = out.shape[3]
    _check(out.shape[0] == M and out.shape[1] == C, "maxpool2d: output shape")
    _check(kh >= 1 and kw >= 1 and sh >= 1 and sw >= 1 and pt >= 0 and pl >= 0 and dh >= 1 and dw >= 1,
           "maxpool2d: attributes")
    cdef Py_ssize_t r, i, j, p, q, h, w_
    cdef float s, e
    cdef const in_t* xc
    with nogil:
        for r in prange(M * C, schedule="static"):
            xc = &x[r // C, r % C, 0, 0]
            for i in range(Ho):
                for j in range(Wo):
                    s = -INFINITY
                    for p in range(kh):
                        h = i * sh + p * dh - pt
                        if h < 0 or h >= H:
                            continue
                        for q in range(kw):
                            w_ = j * sw + q * dw - pl
                            if w_ < 0 or w_ >= W:
                                continue
                            e = <float>xc[h * W + w_]
                            if e > s or e != e:
                                s = e
                    if in_t is uint8_t:
                        out[r // C, r % C, i, j] = <uint8_t>(s if s > 0 else 0)
                    else:
                        out[r // C, r % C, i, j] = s


def global_avgpool(const in_t[:, :, ::1] x, float[:, ::1] out):
    """x as [M, C, H*W] -> out [M, C]: the sum over H*W divided by H*W."""
    cdef Py_ssize_t M = x.shape[0], C = x.shape[1], S = x.shape[2]
    _check(out.shape[0] == M and out.shape[1] == C, "global_avgpool: output shape")
    cdef Py_ssize_t r, k
    cdef float s
    cdef float n = <float>S
    with nogil:
        for r in prange(M * C, schedule="static"):
            s = 0
            for k in range(S):
                s = s + <float>x[r // C, r % C, k]
            out[r // C, r % C] = s / n


# ----------------------------------------------------------------------------- add / mul

def binary(const a_t[:, :, :, :] a, const b_t[:, :, :, :] b, float[:, :, :, ::1] out, bint multiply):
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
    with nogil:
        for r in prange(n0 * n1, schedule="static"):
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


# ----------------------------------------------------------------------------- neurons

def if_neuron(const in_t[:, :, ::1] x, const float[::1] threshold, const float[::1] v0,
              uint8_t[:, :, ::1] out, int64_t[::1] counts, bint reset_zero):
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
    cdef Py_ssize_t xs1 = (x.strides[1] // sizeof(in_t)) if x.shape[1] == T else 0
    cdef int nth = openmp.omp_get_max_threads()
    cdef float[:, ::1] vbuf = np.empty((nth, S), dtype=np.float32)
    cdef Py_ssize_t b, t, i
    cdef int64_t c
    cdef int tid
    cdef float* v
    cdef float vi, th
    cdef const in_t* xr
    cdef uint8_t* orow
    cdef uint8_t s
    cdef const float* thp = &threshold[0]
    with nogil:
        for b in prange(B, schedule="static"):
            tid = threadid()
            v = &vbuf[tid, 0]
            for i in range(S):
                v[i] = v0[i]
            c = 0
            for t in range(T):
                xr = &x[b, 0, 0] + t * xs1
                orow = &out[b, t, 0]
                if reset_zero:
                    for i in range(S):
                        vi = v[i] + <float>xr[i]
                        s = vi >= thp[i]
                        v[i] = 0 if s else vi
                        orow[i] = s
                else:
                    for i in range(S):
                        vi = v[i] + <float>xr[i]
                        th = thp[i]
                        s = vi >= th
                        v[i] = (vi - th) if s else vi
                        orow[i] = s
                for i in range(S):
                    c = c + orow[i]
            counts[b] = c


def gated_maxpool2d(const in_t[:, :, :, :, ::1] x, in_t[:, :, :, :, ::1] out, int kh, int kw, int sh, int sw,
                    int pt, int pl, int dh, int dw):
    """Spiking max pooling (op gated_maxpool2d) over T steps: acc += x_t (f32, acc_0 = x_0);
    in every window the output is x_t at the position whose acc is largest (the first
    such position in row-major window order; padding has acc -inf and x 0).
    x is [B, T, C, H, W] or [B, 1, C, H, W] (the same every step); out is [B, T, C, Ho, Wo]."""
    cdef Py_ssize_t B = out.shape[0], T = out.shape[1], C = out.shape[2], Ho = out.shape[3], Wo = out.shape[4]
    cdef Py_ssize_t H = x.shape[3], W = x.shape[4]
    _check(x.shape[0] == B and x.shape[2] == C and (x.shape[1] == T or x.shape[1] == 1), "gated_maxpool2d: input shape")
    _check(kh >= 1 and kw >= 1 and sh >= 1 and sw >= 1 and pt >= 0 and pl >= 0 and dh >= 1 and dw >= 1,
           "gated_maxpool2d: attributes")
    if B == 0 or T == 0 or C == 0:
        return
    cdef Py_ssize_t S = C * H * W
    cdef Py_ssize_t xs1 = (x.strides[1] // sizeof(in_t)) if (x.shape[1] == T and T > 1) else 0
    cdef int nth = openmp.omp_get_max_threads()
    cdef float[:, ::1] accbuf = np.empty((nth, max(S, 1)), dtype=np.float32)
    cdef Py_ssize_t b, t, e, c, i, j, p, q, h, w_
    cdef int tid
    cdef float* acc
    cdef const in_t* xt
    cdef in_t* ot
    cdef float best, a
    cdef in_t chosen
    with nogil:
        for b in prange(B, schedule="static"):
            tid = threadid()
            acc = &accbuf[tid, 0]
            for e in range(S):
                acc[e] = 0
            for t in range(T):
                xt = &x[b, 0, 0, 0, 0] + t * xs1
                for e in range(S):
                    acc[e] = acc[e] + <float>xt[e]
                ot = &out[b, t, 0, 0, 0]
                for c in range(C):
                    for i in range(Ho):
                        for j in range(Wo):
                            best = -INFINITY
                            chosen = 0
                            for p in range(kh):
                                h = i * sh + p * dh - pt
                                if h < 0 or h >= H:
                                    continue
                                for q in range(kw):
                                    w_ = j * sw + q * dw - pl
                                    if w_ < 0 or w_ >= W:
                                        continue
                                    a = acc[(c * H + h) * W + w_]
                                    if a > best:
                                        best = a
                                        chosen = xt[(c * H + h) * W + w_]
                            ot[(c * Ho + i) * Wo + j] = chosen


def readout_sum(const in_t[:, :, ::1] x, float[:, :, ::1] out, Py_ssize_t T, bint keep_all):
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
    with nogil:
        for b in prange(B, schedule="static"):
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


def encode_rate(const float[:, :, ::1] x, const uint32_t[:, ::1] u, uint8_t[:, :, ::1] out):
    """Rate encoding: out[b, t, e] = 1 iff u[t, e] < clip(x[b, t, e], 0, 1) * 2^24, with
    u[t, e] = r_{t*n+e} >> 8 (xorshift_u24 reshaped [T, n]). x is [B, T, n] or [B, 1, n]."""
    cdef Py_ssize_t B = out.shape[0], T = out.shape[1], n = out.shape[2]
    _check(x.shape[0] == B and x.shape[2] == n and (x.shape[1] == T or x.shape[1] == 1), "encode: input shape")
    _check(u.shape[0] == T and u.shape[1] == n, "encode: random table shape")
    if B == 0 or T == 0 or n == 0:
        return
    cdef Py_ssize_t xs1 = (x.strides[1] // sizeof(float)) if (x.shape[1] == T and T > 1) else 0
    cdef Py_ssize_t b, t, e
    cdef const float* xr
    cdef const uint32_t* ur
    cdef uint8_t* orow
    cdef float xv
    cdef double p
    with nogil:
        for b in prange(B, schedule="static"):
            for t in range(T):
                xr = &x[b, 0, 0] + t * xs1
                ur = &u[t, 0]
                orow = &out[b, t, 0]
                for e in range(n):
                    xv = xr[e]
                    if xv >= 1:
                        orow[e] = 1
                    elif xv > 0:       # NaN and x <= 0: never
                        p = <double>xv * 16777216.0
                        orow[e] = <double>ur[e] < p
                    else:
                        orow[e] = 0
