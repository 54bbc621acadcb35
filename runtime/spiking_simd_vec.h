/* The explicit-vector kernels of spiking_simd.h, written once for a vector of SNN_VL floats
 * and included once per instruction set, with:
 *   SNN_VT   the vector type (GCC vector extension), SNN_VL its number of floats (<= 16)
 *   SNN_SFX  the suffix of the generated function names (_avx512, _avx2, _base)
 *   SNN_TGT  the function attribute selecting the instruction set (empty for the baseline)
 *   SNN_NZ_U8, SNN_NZ_F32  the compaction of a row (non-zero indices / values) to use
 * Native widths matter: a 64-byte vector type on AVX2 or SSE spills registers.
 * No include guard: this file is meant to be included several times; included without
 * SNN_VT defined (as the Cython module does, so that its build depends on this file) it
 * defines nothing. */
#ifdef SNN_VT

#define SNN_CAT_(a, b) a##b
#define SNN_CAT(a, b) SNN_CAT_(a, b)
#define SNN_FN(name) SNN_CAT(name, SNN_SFX)
#define VLD(p) __extension__({ SNN_VT v_; memcpy(&v_, (p), sizeof v_); v_; })
#define VST(p, v) do { SNN_VT s_ = (v); memcpy((p), &s_, sizeof s_); } while (0)
#define VSPLAT(a) ((SNN_VT){0} + (float)(a))
#define VL SNN_VL

/* o[n] = sum_j val[j] * wt[idx[j], n] (+ bias[n]) for n < N; val NULL: all ones.
 * ldw >= N is the row stride of wt; rows padded to a multiple of 16 let the last outputs
 * use a vector too. 8, 4 or 1 vectors of outputs stay in registers while the selected
 * weight rows stream by. */
SNN_TGT static inline __attribute__((always_inline)) void
SNN_FN(snn_accumulate)(float *o, const float *wt, int64_t N, int64_t ldw, const int32_t *idx, const float *val,
                       int64_t cnt, const float *bias) {
    int64_t n0 = 0;
    for (; n0 + 8 * VL <= N; n0 += 8 * VL) {
        SNN_VT a[8];
        for (int r = 0; r < 8; r++) a[r] = VSPLAT(0);
        if (val == NULL) {
            for (int64_t j = 0; j < cnt; j++) {
                const float *w = wt + (int64_t)idx[j] * ldw + n0;
                for (int r = 0; r < 8; r++) a[r] += VLD(w + VL * r);
            }
        } else {
            for (int64_t j = 0; j < cnt; j++) {
                const float *w = wt + (int64_t)idx[j] * ldw + n0;
                SNN_VT s = VSPLAT(val[j]);
                for (int r = 0; r < 8; r++) a[r] += s * VLD(w + VL * r);
            }
        }
        for (int r = 0; r < 8; r++) {
            if (bias) a[r] += VLD(bias + n0 + VL * r);
            VST(o + n0 + VL * r, a[r]);
        }
    }
    for (; n0 + 4 * VL <= N; n0 += 4 * VL) {
        SNN_VT a[4];
        for (int r = 0; r < 4; r++) a[r] = VSPLAT(0);
        if (val == NULL) {
            for (int64_t j = 0; j < cnt; j++) {
                const float *w = wt + (int64_t)idx[j] * ldw + n0;
                for (int r = 0; r < 4; r++) a[r] += VLD(w + VL * r);
            }
        } else {
            for (int64_t j = 0; j < cnt; j++) {
                const float *w = wt + (int64_t)idx[j] * ldw + n0;
                SNN_VT s = VSPLAT(val[j]);
                for (int r = 0; r < 4; r++) a[r] += s * VLD(w + VL * r);
            }
        }
        for (int r = 0; r < 4; r++) {
            if (bias) a[r] += VLD(bias + n0 + VL * r);
            VST(o + n0 + VL * r, a[r]);
        }
    }
    for (; n0 < N && n0 + VL <= ldw; n0 += VL) {  /* one vector; the last one may be partial */
        SNN_VT a0 = VSPLAT(0);
        if (val == NULL)
            for (int64_t j = 0; j < cnt; j++) a0 += VLD(wt + (int64_t)idx[j] * ldw + n0);
        else
            for (int64_t j = 0; j < cnt; j++) a0 += VSPLAT(val[j]) * VLD(wt + (int64_t)idx[j] * ldw + n0);
        if (n0 + VL <= N) {
            if (bias) a0 += VLD(bias + n0);
            VST(o + n0, a0);
        } else {
            float part[VL];
            VST(part, a0);
            for (int64_t n = n0; n < N; n++) o[n] = bias ? part[n - n0] + bias[n] : part[n - n0];
        }
    }
    if (n0 < N) {  /* unpadded rows: scalar */
        int64_t rem = N - n0;
        float a[16] = {0};
        for (int64_t j = 0; j < cnt; j++) {
            const float *w = wt + (int64_t)idx[j] * ldw + n0;
            float v = val ? val[j] : 1.0f;
            for (int64_t n = 0; n < rem; n++) a[n] += v * w[n];
        }
        for (int64_t n = 0; n < rem; n++) o[n0 + n] = bias ? a[n] + bias[n0 + n] : a[n];
    }
}

/* Event-driven dense layer on rows of spikes: out[m] = sum of the rows wt[k] of the inputs
 * that fired (+ bias). idx: scratch of K + 16 entries. */
SNN_TGT static void SNN_FN(snn_dense_u8)(const uint8_t *x, int64_t M, int64_t K, const float *wt, int64_t N,
                                         int64_t ldw, const float *bias, float *out, int32_t *idx) {
    for (int64_t m = 0; m < M; m++) {
        int64_t cnt = SNN_NZ_U8(x + m * K, K, idx);
        SNN_FN(snn_accumulate)(out + m * N, wt, N, ldw, idx, NULL, cnt, bias);
    }
}

/* Dense layer on rows of floats skipping zero inputs (time-varying currents, pooled
 * spikes). idx, val: scratch of K + 16 entries. */
SNN_TGT static void SNN_FN(snn_dense_f32_sparse)(const float *x, int64_t M, int64_t K, const float *wt, int64_t N,
                                                 int64_t ldw, const float *bias, float *out, int32_t *idx,
                                                 float *val) {
    for (int64_t m = 0; m < M; m++) {
        int64_t cnt = SNN_NZ_F32(x + m * K, K, idx, val);
        SNN_FN(snn_accumulate)(out + m * N, wt, N, ldw, idx, val, cnt, bias);
    }
}

/* ---- fixed point: int32 accumulators (exact; the caller checks the worst case fits) ---- */
#define IVLD(p) __extension__({ SNN_VTI v_; memcpy(&v_, (p), sizeof v_); v_; })
#define IVST(p, v) do { SNN_VTI s_ = (v); memcpy((p), &s_, sizeof s_); } while (0)
#define IVSPLAT(a) ((SNN_VTI){0} + (int32_t)(a))

/* o[n] = sum_j val[j] * wt[idx[j], n] + bias[n] (val NULL: all ones); like snn_accumulate
 * with NV vectors of outputs in registers; ldw >= N is a multiple of 16 (zero padding). */
#define SNN_IACC(NV)                                                                                 \
    for (; n0 + (NV) * VL <= N; n0 += (NV) * VL) {                                                   \
        SNN_VTI a[NV];                                                                               \
        for (int r = 0; r < (NV); r++) a[r] = bias ? IVLD(bias + n0 + VL * r) : IVSPLAT(0);          \
        if (val == NULL) {                                                                           \
            for (int64_t j = 0; j < cnt; j++) {                                                      \
                const int32_t *w = wt + (int64_t)idx[j] * ldw + n0;                                  \
                for (int r = 0; r < (NV); r++) a[r] += IVLD(w + VL * r);                             \
            }                                                                                        \
        } else {                                                                                     \
            for (int64_t j = 0; j < cnt; j++) {                                                      \
                const int32_t *w = wt + (int64_t)idx[j] * ldw + n0;                                  \
                SNN_VTI s = IVSPLAT(val[j]);                                                         \
                for (int r = 0; r < (NV); r++) a[r] += s * IVLD(w + VL * r);                         \
            }                                                                                        \
        }                                                                                            \
        for (int r = 0; r < (NV); r++) IVST(o + n0 + VL * r, a[r]);                                  \
    }

SNN_TGT static inline __attribute__((always_inline)) void
SNN_FN(snn_accumulate_i32)(int32_t *o, const int32_t *wt, int64_t N, int64_t ldw, const int32_t *idx,
                           const int32_t *val, int64_t cnt, const int32_t *bias) {
    int64_t n0 = 0;
    SNN_IACC(8)
    SNN_IACC(4)
    SNN_IACC(1)
    if (n0 < N) {  /* the last partial vector: ldw >= n0 + VL (rows padded to 16) */
        SNN_VTI a0 = IVSPLAT(0);
        if (val == NULL)
            for (int64_t j = 0; j < cnt; j++) a0 += IVLD(wt + (int64_t)idx[j] * ldw + n0);
        else
            for (int64_t j = 0; j < cnt; j++) a0 += IVSPLAT(val[j]) * IVLD(wt + (int64_t)idx[j] * ldw + n0);
        int32_t part[VL];
        IVST(part, a0);
        for (int64_t n = n0; n < N; n++) o[n] = bias ? part[n - n0] + bias[n] : part[n - n0];
    }
}
#undef SNN_IACC

/* Event-driven integer dense layer on rows of spikes. idx: scratch of K + 16 entries. */
SNN_TGT static void SNN_FN(snn_dense_u8_i32)(const uint8_t *x, int64_t M, int64_t K, const int32_t *wt, int64_t N,
                                             int64_t ldw, const int32_t *bias, int32_t *out, int32_t *idx) {
    for (int64_t m = 0; m < M; m++) {
        int64_t cnt = SNN_NZ_U8(x + m * K, K, idx);
        SNN_FN(snn_accumulate_i32)(out + m * N, wt, N, ldw, idx, NULL, cnt, bias);
    }
}

/* Integer dense layer on int32 rows (e.g. the quantized input), zero inputs skipped. */
SNN_TGT static void SNN_FN(snn_dense_i32_i32)(const int32_t *x, int64_t M, int64_t K, const int32_t *wt, int64_t N,
                                              int64_t ldw, const int32_t *bias, int32_t *out, int32_t *idx,
                                              int32_t *val) {
    for (int64_t m = 0; m < M; m++) {
        int64_t cnt = snn_nonzero_i32(x + m * K, K, idx, val);
        SNN_FN(snn_accumulate_i32)(out + m * N, wt, N, ldw, idx, val, cnt, bias);
    }
}
/* Integer dense layer on int32 rows computed exactly with f32 arithmetic: every product
 * |x * w| < 2^24 and every run of L products sums below 2^24 in magnitude (the caller picks
 * L), so the f32 partial sums of L active inputs are exact integers; they are converted and
 * added to int32 accumulators (which the caller knows cannot overflow). Same speed as the
 * float kernel (FMA) instead of int32 multiplies. idx, val: K + 16 entries; xf: K. */
#define SNN_XACC(NV)                                                                                 \
    for (; n0 + (NV) * VL <= N; n0 += (NV) * VL) {                                                   \
        SNN_VTI a[NV];                                                                               \
        for (int r = 0; r < (NV); r++) a[r] = bias ? IVLD(bias + n0 + VL * r) : IVSPLAT(0);          \
        for (int64_t j0 = 0; j0 < cnt; j0 += L) {                                                    \
            int64_t j1 = j0 + L < cnt ? j0 + L : cnt;                                                \
            SNN_VT f[NV];                                                                            \
            for (int r = 0; r < (NV); r++) f[r] = VSPLAT(0);                                         \
            for (int64_t j = j0; j < j1; j++) {                                                      \
                const float *w = wt + (int64_t)idx[j] * ldw + n0;                                    \
                SNN_VT sv = VSPLAT(val[j]);                                                          \
                for (int r = 0; r < (NV); r++) f[r] += sv * VLD(w + VL * r);                         \
            }                                                                                        \
            for (int r = 0; r < (NV); r++) a[r] += __builtin_convertvector(f[r], SNN_VTI);           \
        }                                                                                            \
        for (int r = 0; r < (NV); r++) IVST(o + n0 + VL * r, a[r]);                                  \
    }

SNN_TGT static void SNN_FN(snn_dense_i32_f32x)(const int32_t *x, int64_t M, int64_t K, const float *wt, int64_t N,
                                               int64_t ldw, const int32_t *bias, int32_t *out, int32_t *idx,
                                               float *val, float *xf, int64_t L) {
    for (int64_t m = 0; m < M; m++) {
        const int32_t *xr = x + m * K;
        for (int64_t k = 0; k < K; k++) xf[k] = (float)xr[k];
        int64_t cnt = SNN_NZ_F32(xf, K, idx, val);
        int32_t *o = out + m * N;
        int64_t n0 = 0;
        SNN_XACC(8)
        SNN_XACC(4)
        SNN_XACC(1)
        if (n0 < N) {  /* the last partial vector (weight rows padded to 16) */
            SNN_VTI a0 = IVSPLAT(0);
            for (int64_t j0 = 0; j0 < cnt; j0 += L) {
                int64_t j1 = j0 + L < cnt ? j0 + L : cnt;
                SNN_VT f0 = VSPLAT(0);
                for (int64_t j = j0; j < j1; j++) f0 += VSPLAT(val[j]) * VLD(wt + (int64_t)idx[j] * ldw + n0);
                a0 += __builtin_convertvector(f0, SNN_VTI);
            }
            int32_t part[VL];
            IVST(part, a0);
            for (int64_t n = n0; n < N; n++) o[n] = bias ? part[n - n0] + bias[n] : part[n - n0];
        }
    }
}
#undef SNN_XACC
#undef IVLD
#undef IVST
#undef IVSPLAT

/* Dense layer on a block of float rows (GEMM): out[M, N] = x[M, K] wt[K, :N] (+ bias), ldw
 * the row stride of wt. Register block of 4 rows x 2 vectors; the [K, 2 vectors] weight
 * panel is reused by all the rows of the block. */
SNN_TGT static void SNN_FN(snn_gemm)(const float *x, int64_t M, int64_t K, const float *wt, int64_t N, int64_t ldw,
                                     const float *bias, float *out) {
    int64_t n0 = 0;
    for (; n0 + 2 * VL <= N; n0 += 2 * VL) {
        int64_t m = 0;
        for (; m + 4 <= M; m += 4) {
            const float *x0 = x + m * K, *x1 = x0 + K, *x2 = x1 + K, *x3 = x2 + K;
            SNN_VT c00 = VSPLAT(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            const float *w = wt + n0;
            for (int64_t k = 0; k < K; k++, w += ldw) {
                SNN_VT w0 = VLD(w), w1 = VLD(w + VL);
                SNN_VT s0 = VSPLAT(x0[k]), s1 = VSPLAT(x1[k]), s2 = VSPLAT(x2[k]), s3 = VSPLAT(x3[k]);
                c00 += s0 * w0; c01 += s0 * w1;
                c10 += s1 * w0; c11 += s1 * w1;
                c20 += s2 * w0; c21 += s2 * w1;
                c30 += s3 * w0; c31 += s3 * w1;
            }
            if (bias) {
                SNN_VT b0 = VLD(bias + n0), b1 = VLD(bias + n0 + VL);
                c00 += b0; c01 += b1; c10 += b0; c11 += b1; c20 += b0; c21 += b1; c30 += b0; c31 += b1;
            }
            float *o = out + m * N + n0;
            VST(o, c00); VST(o + VL, c01); o += N;
            VST(o, c10); VST(o + VL, c11); o += N;
            VST(o, c20); VST(o + VL, c21); o += N;
            VST(o, c30); VST(o + VL, c31);
        }
        for (; m < M; m++) {
            const float *x0 = x + m * K;
            SNN_VT c00 = VSPLAT(0), c01 = c00;
            const float *w = wt + n0;
            for (int64_t k = 0; k < K; k++, w += ldw) {
                SNN_VT s0 = VSPLAT(x0[k]);
                c00 += s0 * VLD(w); c01 += s0 * VLD(w + VL);
            }
            if (bias) { c00 += VLD(bias + n0); c01 += VLD(bias + n0 + VL); }
            VST(out + m * N + n0, c00); VST(out + m * N + n0 + VL, c01);
        }
    }
    if (n0 < N) {  /* the last < 2 vectors of outputs: one row at a time */
        for (int64_t m = 0; m < M; m++) {
            const float *x0 = x + m * K;
            for (int64_t n = n0; n < N; n += VL) {
                if (ldw >= n + VL) {
                    SNN_VT c = VSPLAT(0);
                    const float *w = wt + n;
                    for (int64_t k = 0; k < K; k++, w += ldw) c += VSPLAT(x0[k]) * VLD(w);
                    float part[VL];
                    VST(part, c);
                    int64_t e = N - n < VL ? N - n : VL;
                    for (int64_t j = 0; j < e; j++) out[m * N + n + j] = bias ? part[j] + bias[n + j] : part[j];
                } else {
                    float a[16] = {0};
                    int64_t rem = N - n;
                    const float *w = wt + n;
                    for (int64_t k = 0; k < K; k++, w += ldw)
                        for (int64_t j = 0; j < rem; j++) a[j] += x0[k] * w[j];
                    for (int64_t j = 0; j < rem; j++) out[m * N + n + j] = bias ? a[j] + bias[n + j] : a[j];
                }
            }
        }
    }
}

/* Event-driven conv2d of one row (one sample at one step); one design for float (AT float)
 * and fixed point (AT int32: exact, the caller checks the worst case fits):
 *   1. per input pixel (h, w) and group g, the non-zero input channels are listed once
 *      (idx, val; a contiguous uint8 run is scanned a word at a time): the events. The
 *      list is padded with zero events to a multiple of 4;
 *   2. per output pixel (i, j) and group, 4, 2 or 1 vectors of sums stay in registers
 *      while the events of the inputs its taps (p, q) reach add val * weight row (SIMD
 *      over output channels); two neighbouring pixels at a time, whose chains of FMAs
 *      are independent (one pixel's are latency bound); four events per iteration: a
 *      pixel's few events (typically
 *      1-4) mostly take one iteration per tap, one path serves spikes, counts and values
 *      (FMAs cost what additions do; 0 * w adds nothing, exactly). The taps are visited
 *      p-major, q-minor, i.e. in raster order of the input pixels: every output sums its
 *      terms in the order of the scatter formulation (each event adding its weight rows
 *      to the outputs it reaches, raster order), the same floats. No accumulator array:
 *      no clearing, loads or stores of partial sums, and no transpose pass;
 *   3. + bias (after the sum, like the reference), converted to OT, stored to out
 *      [O, Ho, Wo], or (SNN_CONV_OUT_CL in flags) [Ho, Wo, O], channels last: the layout
 *      the next if/pooling/conv keep (vectors, no transposes between them).
 * x is [C, H, W], or [H, W, C] with SNN_CONV_IN_CL: a pixel's channels are then one
 * contiguous run.
 * wt is [G, kh, kw, Cg, Ogp] of AT, Ogp = Og rounded up to 16 (zero padding).
 * Fixed point runs either instance: AT int32, or AT float with OT int32 when the caller
 * knows every partial sum is an integer below 2^24 in magnitude (then f32 is exact in any
 * order, and FMAs are cheaper than int32 multiplies).
 * Scratch: idx [H*W*(C + 5*G)] int32 (the lists, then the counts), val [H*W*(C + 4*G)] of AT. */
#define SNN_CONV_EV(A, E)   /* A += the events of list E, four at a time */                        \
    {                                                                                                \
        const int32_t *ix = idx + (E) * LS;                                                          \
        const AT *vv = val + (E) * LS;                                                               \
        for (int64_t k = 0, n = cnt[E]; k < n; k += 4) {                                             \
            const AT *w0 = wb + (int64_t)ix[k] * Ogp, *w1 = wb + (int64_t)ix[k + 1] * Ogp;           \
            const AT *w2 = wb + (int64_t)ix[k + 2] * Ogp, *w3 = wb + (int64_t)ix[k + 3] * Ogp;       \
            VA s0 = ASPLAT(vv[k]), s1 = ASPLAT(vv[k + 1]), s2 = ASPLAT(vv[k + 2]), s3 = ASPLAT(vv[k + 3]); \
            for (int r = 0; r < NV_; r++) {                                                          \
                A[r] += s0 * ALD(w0 + VL * r);                                                       \
                A[r] += s1 * ALD(w1 + VL * r);                                                       \
                A[r] += s2 * ALD(w2 + VL * r);                                                       \
                A[r] += s3 * ALD(w3 + VL * r);                                                       \
            }                                                                                        \
        }                                                                                            \
    }

#define SNN_CONV_STORE(A, J)                                                                         \
    if (cl_out && o0 + NV_ * VL <= Og) {  /* whole vectors of real channels */                       \
        OT *op_ = out + (i * Wo + (J)) * O + g * Og + o0;                                            \
        for (int r = 0; r < NV_; r++) {                                                              \
            VA v_ = A[r];                                                                            \
            if (bias) v_ += ALD(bias + g * Og + o0 + VL * r);                                        \
            OST(op_ + VL * r, OCVT(v_));                                                             \
        }                                                                                            \
    } else {                                                                                         \
        AT part[NV_ * VL];                                                                           \
        for (int r = 0; r < NV_; r++) AST(part + VL * r, A[r]);                                      \
        for (int64_t o = 0; o < NV_ * VL && o0 + o < Og; o++) {                                      \
            int64_t oc = g * Og + o0 + o;                                                            \
            AT v_ = bias ? part[o] + bias[oc] : part[o];                                             \
            out[cl_out ? (i * Wo + (J)) * O + oc : oc * Ho * Wo + i * Wo + (J)] = (OT)v_;           \
        }                                                                                            \
    }

/* Output pixels ja and jb = ja + 1 (if pair): two independent sets of FMA chains per tap
 * (one pixel's chains are latency bound). */
#define SNN_CONV_GATHER(NV)                                                                          \
    for (; o0 + (NV) * VL <= Ogp; o0 += (NV) * VL) {                                                 \
        enum { NV_ = (NV) };                                                                         \
        VA a[NV], b[NV];                                                                             \
        for (int r = 0; r < (NV); r++) { a[r] = ASPLAT(0); b[r] = ASPLAT(0); }                       \
        for (int64_t p = 0; p < kh; p++) {                                                           \
            int64_t h = i * sh + p * dh - pt;                                                        \
            if (h < 0 || h >= H) continue;                                                           \
            for (int64_t q = 0; q < kw; q++) {                                                       \
                const AT *wb = wt + ((g * kh + p) * kw + q) * Cg * Ogp + o0;                         \
                int64_t wa = ja * sw + q * dw - pl, wb_ = wa + sw;                                   \
                if (wa >= 0 && wa < W) SNN_CONV_EV(a, (h * W + wa) * G + g)                          \
                if (pair && wb_ >= 0 && wb_ < W) SNN_CONV_EV(b, (h * W + wb_) * G + g)               \
            }                                                                                        \
        }                                                                                            \
        SNN_CONV_STORE(a, ja)                                                                        \
        if (pair) { SNN_CONV_STORE(b, ja + 1) }                                                      \
    }

#define SNN_CONV_BODY(XT)                                                                            \
    const int64_t HW = H * W, Cg = C / G, O = G * Og, LS = Cg + 4;                                   \
    const int cl_in = (flags & SNN_CONV_IN_CL) != 0, cl_out = (flags & SNN_CONV_OUT_CL) != 0;        \
    const int64_t cs = cl_in ? 1 : HW, ps = cl_in ? C : 1;                                           \
    int32_t *cnt = idx + HW * G * LS;                                                                \
    for (int64_t e = 0; e < HW; e++) {                                                               \
        for (int64_t g = 0; g < G; g++) {                                                            \
            const XT *xp = x + g * Cg * cs + e * ps;                                                 \
            int32_t *li = idx + (e * G + g) * LS;                                                    \
            AT *lv = val + (e * G + g) * LS;                                                         \
            int64_t n = 0;                                                                           \
            if (sizeof(XT) == 1 && cs == 1) {                                                        \
                n = snn_list_u8((const uint8_t *)xp, Cg, li);                                        \
            } else {                                                                                 \
                for (int64_t c = 0; c < Cg; c++) {    /* branch-free listing */                      \
                    li[n] = (int32_t)c;                                                              \
                    n += (xp[c * cs] != 0);                                                          \
                }                                                                                    \
            }                                                                                        \
            for (int64_t k = 0; k < n; k++) lv[k] = (AT)xp[li[k] * cs];                              \
            for (int64_t k = n; k < n + 3; k++) { li[k] = 0; lv[k] = 0; }  /* to a multiple of 4 */  \
            cnt[e * G + g] = (int32_t)n;                                                             \
        }                                                                                            \
    }                                                                                                \
    for (int64_t i = 0; i < Ho; i++)                                                                 \
        for (int64_t ja = 0; ja < Wo; ja += 2)                                                       \
            for (int64_t g = 0; g < G; g++) {                                                        \
                const int pair = ja + 1 < Wo;                                                        \
                int64_t o0 = 0;                                                                      \
                SNN_CONV_GATHER(4)                                                                   \
                SNN_CONV_GATHER(2)                                                                   \
                SNN_CONV_GATHER(1)                                                                   \
            }

#define SNN_CONV_ARGS(XT, AT_, OT_)                                                                  \
    const XT *x, int64_t C, int64_t H, int64_t W, const AT_ *wt, int64_t G, int64_t kh, int64_t kw,  \
    int64_t Og, int64_t Ogp, int64_t Ho, int64_t Wo, int64_t sh, int64_t sw, int64_t pt, int64_t pl, \
    int64_t dh, int64_t dw, const AT_ *bias, OT_ *out, int32_t *idx, AT_ *val, int flags

#define AT float
#define VA SNN_VT
#define ALD(p) __extension__({ VA v_; memcpy(&v_, (p), sizeof v_); v_; })
#define AST(p, v) do { VA s_ = (v); memcpy((p), &s_, sizeof s_); } while (0)
#define ASPLAT(a) ((VA){0} + (AT)(a))
#define OT float
#define OCVT(v) (v)
#define OST(p, v) AST(p, v)
SNN_TGT static void SNN_FN(snn_conv_u8_f32)(SNN_CONV_ARGS(uint8_t, float, float)) { SNN_CONV_BODY(uint8_t) }
SNN_TGT static void SNN_FN(snn_conv_f32_f32)(SNN_CONV_ARGS(float, float, float)) { SNN_CONV_BODY(float) }
#undef OT
#undef OCVT
#undef OST
#define OT int32_t
#define OCVT(v) __builtin_convertvector((v), SNN_VTI)
#define OST(p, v) do { SNN_VTI s_ = (v); memcpy((p), &s_, sizeof s_); } while (0)
SNN_TGT static void SNN_FN(snn_conv_u8_f32i)(SNN_CONV_ARGS(uint8_t, float, int32_t)) { SNN_CONV_BODY(uint8_t) }
SNN_TGT static void SNN_FN(snn_conv_i32_f32i)(SNN_CONV_ARGS(int32_t, float, int32_t)) { SNN_CONV_BODY(int32_t) }
#undef AT
#undef VA
#undef OCVT
#define AT int32_t
#define VA SNN_VTI
#define OCVT(v) (v)
SNN_TGT static void SNN_FN(snn_conv_u8_i32)(SNN_CONV_ARGS(uint8_t, int32_t, int32_t)) { SNN_CONV_BODY(uint8_t) }
SNN_TGT static void SNN_FN(snn_conv_i32_i32)(SNN_CONV_ARGS(int32_t, int32_t, int32_t)) { SNN_CONV_BODY(int32_t) }
#undef OT
#undef OCVT
#undef OST
#undef AT
#undef VA
#undef ALD
#undef AST
#undef ASPLAT

#undef SNN_CONV_GATHER
#undef SNN_CONV_EV
#undef SNN_CONV_STORE
#undef SNN_CONV_BODY
#undef SNN_CONV_ARGS
#undef VLD
#undef VST
#undef VSPLAT
#undef VL
#undef SNN_FN

#endif /* SNN_VT */
