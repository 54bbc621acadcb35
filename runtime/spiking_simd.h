/* Hot loops of sncc.runtime.spiking_kernels, in C.
 *
 * setup.py compiles for the baseline ISA (no -march), so the code picks the instruction
 * set at run time:
 *   - the kernels written with explicit vectors (dense, GEMM, conv2d: spiking_simd_vec.h)
 *     are instantiated for AVX-512 (16 floats per vector), AVX2+FMA (8) and the baseline
 *     (4), and a dispatcher calls the best one the CPU supports (snn_isa());
 *   - the plain loops (if, rate encoding, pooling) are compiled three times by
 *     target_clones (x86-64-v4, x86-64-v3, baseline) and auto-vectorized.
 * Define SNCC_NO_CLONES to build the baseline code only (also on non-x86 targets).
 *
 * Every function works on one row (or a block of rows) with sizes given by the caller;
 * the Cython wrappers check the shapes. Summation order: the sum over the inputs first,
 * then + bias (like the reference interpreter's x @ W.T + b); FMA contraction is allowed.
 */
#ifndef SNCC_SPIKING_SIMD_H
#define SNCC_SPIKING_SIMD_H

#include <stdint.h>
#include <string.h>
#include <math.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(SNCC_NO_CLONES)
#define SNN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SNN_CLONES
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SNN_INLINE static inline __attribute__((always_inline))
#else
#define SNN_INLINE static inline
#endif

typedef float snn_v16f __attribute__((vector_size(64)));
typedef float snn_v8f __attribute__((vector_size(32)));
typedef float snn_v4f __attribute__((vector_size(16)));
typedef int32_t snn_v16i __attribute__((vector_size(64)));
typedef int32_t snn_v8i __attribute__((vector_size(32)));
typedef int32_t snn_v4i __attribute__((vector_size(16)));

/* Indices of the non-zero bytes of a spike row. */
SNN_INLINE int64_t snn_nonzero_u8(const uint8_t *x, int64_t K, int32_t *idx) {
    int64_t cnt = 0;
    for (int64_t k = 0; k < K; k++) {   /* branch-free: spikes are not predictable */
        idx[cnt] = (int32_t)k;
        cnt += (x[k] != 0);
    }
    return cnt;
}

/* Indices and values of the non-zero elements of a float row (branch-free). */
SNN_INLINE int64_t snn_nonzero_f32(const float *x, int64_t K, int32_t *idx, float *val) {
    int64_t cnt = 0;
    for (int64_t k = 0; k < K; k++) {
        idx[cnt] = (int32_t)k;
        val[cnt] = x[k];
        cnt += (x[k] != 0.0f);
    }
    return cnt;
}

/* Indices and values of the non-zero elements of an int32 row (fixed point; branch-free). */
SNN_INLINE int64_t snn_nonzero_i32(const int32_t *x, int64_t K, int32_t *idx, int32_t *val) {
    int64_t cnt = 0;
    for (int64_t k = 0; k < K; k++) {
        idx[cnt] = (int32_t)k;
        val[cnt] = x[k];
        cnt += (x[k] != 0);
    }
    return cnt;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(SNCC_NO_CLONES)
#define SNN_HAVE_AVX512_PATH 1
#include <immintrin.h>
#define SNN_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,bmi,bmi2,popcnt")))

/* The same compactions with AVX-512: 16 elements per step, register-form vpcompressd
 * (the memory form is very slow on some CPUs). idx/val need K + 16 entries. */
SNN_AVX512 static inline int64_t snn_nonzero_u8_avx512(const uint8_t *x, int64_t K, int32_t *idx) {
    int64_t cnt = 0, k = 0;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (; k + 16 <= K; k += 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)(x + k));
        __mmask16 m = _mm_test_epi8_mask(b, b);
        __m512i ids = _mm512_add_epi32(iota, _mm512_set1_epi32((int)k));
        _mm512_storeu_si512((void *)(idx + cnt), _mm512_maskz_compress_epi32(m, ids));
        cnt += __builtin_popcount((unsigned)m);
    }
    for (; k < K; k++) {
        idx[cnt] = (int32_t)k;
        cnt += (x[k] != 0);
    }
    return cnt;
}

SNN_AVX512 static inline int64_t snn_nonzero_f32_avx512(const float *x, int64_t K, int32_t *idx, float *val) {
    int64_t cnt = 0, k = 0;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (; k + 16 <= K; k += 16) {
        __m512 v = _mm512_loadu_ps(x + k);
        __mmask16 m = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
        __m512i ids = _mm512_add_epi32(iota, _mm512_set1_epi32((int)k));
        _mm512_storeu_si512((void *)(idx + cnt), _mm512_maskz_compress_epi32(m, ids));
        _mm512_storeu_ps(val + cnt, _mm512_maskz_compress_ps(m, v));
        cnt += __builtin_popcount((unsigned)m);
    }
    for (; k < K; k++) {
        idx[cnt] = (int32_t)k;
        val[cnt] = x[k];
        cnt += (x[k] != 0.0f);
    }
    return cnt;
}

#endif

/* Indices of the non-zero bytes of a contiguous run (a channels-last pixel's spikes or
 * counts), a 64-bit word at a time: a pixel's few events cost a few iterations, not one
 * per channel. idx needs n entries. */
SNN_INLINE int64_t snn_list_u8(const uint8_t *x, int64_t n, int32_t *idx) {
    int64_t cnt = 0, c = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; c + 8 <= n; c += 8) {
        uint64_t wv;
        memcpy(&wv, x + c, 8);
        while (wv) {   /* the lowest non-zero byte is the first channel that fired */
            int b = __builtin_ctzll(wv) >> 3;
            idx[cnt++] = (int32_t)(c + b);
            wv &= ~((uint64_t)0xFF << (8 * b));
        }
    }
#endif
    for (; c < n; c++) {
        idx[cnt] = (int32_t)c;
        cnt += (x[c] != 0);
    }
    return cnt;
}

/* conv2d layouts (flags): the input / the output channels last ([H, W, C] per row) */
#define SNN_CONV_IN_CL 1
#define SNN_CONV_OUT_CL 2

/* ---- the explicit-vector kernels, one instance per instruction set ---- */

#define SNN_NZ_U8 snn_nonzero_u8
#define SNN_NZ_F32 snn_nonzero_f32

#define SNN_VT snn_v4f
#define SNN_VTI snn_v4i
#define SNN_VL 4
#define SNN_SFX _base
#define SNN_TGT
#include "spiking_simd_vec.h"
#undef SNN_VT
#undef SNN_VTI
#undef SNN_VL
#undef SNN_SFX
#undef SNN_TGT

#ifdef SNN_HAVE_AVX512_PATH
#define SNN_VT snn_v8f
#define SNN_VTI snn_v8i
#define SNN_VL 8
#define SNN_SFX _avx2
#define SNN_TGT __attribute__((target("avx2,fma")))
#include "spiking_simd_vec.h"
#undef SNN_VT
#undef SNN_VTI
#undef SNN_VL
#undef SNN_SFX
#undef SNN_TGT

#undef SNN_NZ_U8
#undef SNN_NZ_F32
#define SNN_NZ_U8 snn_nonzero_u8_avx512
#define SNN_NZ_F32 snn_nonzero_f32_avx512
#define SNN_VT snn_v16f
#define SNN_VTI snn_v16i
#define SNN_VL 16
#define SNN_SFX _avx512
#define SNN_TGT SNN_AVX512
#include "spiking_simd_vec.h"
#undef SNN_VT
#undef SNN_VTI
#undef SNN_VL
#undef SNN_SFX
#undef SNN_TGT
#endif
#undef SNN_NZ_U8
#undef SNN_NZ_F32

/* 2: AVX-512 (F, BW, VL, DQ), 1: AVX2 + FMA, 0: baseline. Computed once (a benign race:
 * every thread computes the same value). */
static int snn_isa_level = -1;
static inline int snn_isa(void) {
    if (snn_isa_level < 0) {
#ifdef SNN_HAVE_AVX512_PATH
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
            snn_isa_level = 2;
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            snn_isa_level = 1;
        else
            snn_isa_level = 0;
#else
        snn_isa_level = 0;
#endif
    }
    return snn_isa_level;
}

/* Use at most `level` (tests of the narrower instances); returns the level in effect. */
static int snn_set_isa(int level) {
    snn_isa_level = -1;
    int best = snn_isa();
    snn_isa_level = level < best ? (level < 0 ? 0 : level) : best;
    return snn_isa_level;
}

#ifdef SNN_HAVE_AVX512_PATH
#define SNN_DISPATCH(name, args)                                                                     \
    do {                                                                                             \
        switch (snn_isa()) {                                                                         \
            case 2: name##_avx512 args; return;                                                      \
            case 1: name##_avx2 args; return;                                                        \
            default: name##_base args; return;                                                       \
        }                                                                                            \
    } while (0)
#else
#define SNN_DISPATCH(name, args) do { name##_base args; return; } while (0)
#endif

static void snn_dense_u8(const uint8_t *x, int64_t M, int64_t K, const float *wt, int64_t N, int64_t ldw,
                         const float *bias, float *out, int32_t *idx) {
    SNN_DISPATCH(snn_dense_u8, (x, M, K, wt, N, ldw, bias, out, idx));
}

static void snn_dense_f32_sparse(const float *x, int64_t M, int64_t K, const float *wt, int64_t N, int64_t ldw,
                                 const float *bias, float *out, int32_t *idx, float *val) {
    SNN_DISPATCH(snn_dense_f32_sparse, (x, M, K, wt, N, ldw, bias, out, idx, val));
}

static void snn_gemm(const float *x, int64_t M, int64_t K, const float *wt, int64_t N, int64_t ldw,
                     const float *bias, float *out) {
    SNN_DISPATCH(snn_gemm, (x, M, K, wt, N, ldw, bias, out));
}

static void snn_dense_u8_i32(const uint8_t *x, int64_t M, int64_t K, const int32_t *wt, int64_t N, int64_t ldw,
                             const int32_t *bias, int32_t *out, int32_t *idx) {
    SNN_DISPATCH(snn_dense_u8_i32, (x, M, K, wt, N, ldw, bias, out, idx));
}

static void snn_dense_i32_f32x(const int32_t *x, int64_t M, int64_t K, const float *wt, int64_t N, int64_t ldw,
                               const int32_t *bias, int32_t *out, int32_t *idx, float *val, float *xf, int64_t L) {
    SNN_DISPATCH(snn_dense_i32_f32x, (x, M, K, wt, N, ldw, bias, out, idx, val, xf, L));
}

static void snn_dense_i32_i32(const int32_t *x, int64_t M, int64_t K, const int32_t *wt, int64_t N, int64_t ldw,
                              const int32_t *bias, int32_t *out, int32_t *idx, int32_t *val) {
    SNN_DISPATCH(snn_dense_i32_i32, (x, M, K, wt, N, ldw, bias, out, idx, val));
}

#define SNN_CONV_PARAMS(XT, AT, OT)                                                                  \
    const XT *x, int64_t C, int64_t H, int64_t W, const AT *wt, int64_t G, int64_t kh, int64_t kw,    \
    int64_t Og, int64_t Ogp, int64_t Ho, int64_t Wo, int64_t sh, int64_t sw, int64_t pt, int64_t pl,  \
    int64_t dh, int64_t dw, const AT *bias, OT *out, int32_t *idx, AT *val, int flags
#define SNN_CONV_CALL (x, C, H, W, wt, G, kh, kw, Og, Ogp, Ho, Wo, sh, sw, pt, pl, dh, dw, bias, out, idx, val, flags)

static void snn_conv_u8_f32(SNN_CONV_PARAMS(uint8_t, float, float)) { SNN_DISPATCH(snn_conv_u8_f32, SNN_CONV_CALL); }
static void snn_conv_f32_f32(SNN_CONV_PARAMS(float, float, float)) { SNN_DISPATCH(snn_conv_f32_f32, SNN_CONV_CALL); }
static void snn_conv_u8_f32i(SNN_CONV_PARAMS(uint8_t, float, int32_t)) {
    SNN_DISPATCH(snn_conv_u8_f32i, SNN_CONV_CALL);
}
static void snn_conv_i32_f32i(SNN_CONV_PARAMS(int32_t, float, int32_t)) {
    SNN_DISPATCH(snn_conv_i32_f32i, SNN_CONV_CALL);
}
static void snn_conv_u8_i32(SNN_CONV_PARAMS(uint8_t, int32_t, int32_t)) {
    SNN_DISPATCH(snn_conv_u8_i32, SNN_CONV_CALL);
}
static void snn_conv_i32_i32(SNN_CONV_PARAMS(int32_t, int32_t, int32_t)) {
    SNN_DISPATCH(snn_conv_i32_i32, SNN_CONV_CALL);
}

/* Integrate-and-fire neurons of one sample over T steps. x: T rows of S currents, row t
 * at x + t*xstep (xstep 0: the same current every step); v: the membranes (in: v0, out:
 * final); out: [T, S] spikes. Blocks of neurons keep their membranes in L1 across steps.
 * Returns the number of spikes. */
#define SNN_IF_BLOCK 512
#define SNN_IF_BODY(XT)                                                                              \
    int64_t total = 0;                                                                               \
    for (int64_t i0 = 0; i0 < S; i0 += SNN_IF_BLOCK) {                                               \
        int64_t nb = S - i0 < SNN_IF_BLOCK ? S - i0 : SNN_IF_BLOCK;                                  \
        float *restrict vb = v + i0;                                                                 \
        const float *restrict tb = th + i0;                                                          \
        for (int64_t t = 0; t < T; t++) {                                                            \
            const XT *restrict xr = x + t * xstep + i0;                                              \
            uint8_t *restrict o = out + t * S + i0;                                                  \
            int32_t c = 0;                                                                           \
            if (reset_zero) {                                                                        \
                for (int64_t i = 0; i < nb; i++) {                                                   \
                    float vi = vb[i] + (float)xr[i];                                                 \
                    int s = vi >= tb[i];                                                             \
                    vb[i] = s ? 0.0f : vi;                                                           \
                    o[i] = (uint8_t)s;                                                               \
                    c += s;                                                                          \
                }                                                                                    \
            } else {                                                                                 \
                for (int64_t i = 0; i < nb; i++) {                                                   \
                    float vi = vb[i] + (float)xr[i];                                                 \
                    int s = vi >= tb[i];                                                             \
                    vb[i] = s ? vi - tb[i] : vi;                                                     \
                    o[i] = (uint8_t)s;                                                               \
                    c += s;                                                                          \
                }                                                                                    \
            }                                                                                        \
            total += c;                                                                              \
        }                                                                                            \
    }                                                                                                \
    return total;

SNN_CLONES static int64_t snn_if_f32(const float *x, int64_t xstep, int64_t T, int64_t S, const float *th,
                                     float *v, uint8_t *out, int reset_zero) { SNN_IF_BODY(float) }

SNN_CLONES static int64_t snn_if_u8(const uint8_t *x, int64_t xstep, int64_t T, int64_t S, const float *th,
                                    float *v, uint8_t *out, int reset_zero) { SNN_IF_BODY(uint8_t) }

/* Rate encoding of one sample: thr[e] = ceil(clip(x[e], 0, 1) * 2^24) (exact), then
 * out[t, e] = u[t, e] < thr[e]  <=>  u < clip(x, 0, 1) * 2^24 for the integer u. */
SNN_INLINE uint32_t snn_rate_threshold(float x) {
    if (x >= 1.0f) return 1u << 24;
    if (x > 0.0f) return (uint32_t)ceilf(x * 16777216.0f);
    return 0;  /* x <= 0 and NaN */
}

SNN_CLONES static void snn_encode_rate(const float *x, int64_t xstep, int64_t T, int64_t n, const uint32_t *u,
                                       uint32_t *thr, uint8_t *out) {
    for (int64_t t = 0; t < T; t++) {
        if (t == 0 || xstep != 0)
            for (int64_t e = 0; e < n; e++) thr[e] = snn_rate_threshold(x[t * xstep + e]);
        const uint32_t *ur = u + t * n;
        uint8_t *o = out + t * n;
        for (int64_t e = 0; e < n; e++) o[e] = ur[e] < thr[e];
    }
}

/* Pooling over planes (rows of [C, H, W] -> [C, Ho, Wo]), vectorized along output columns:
 * for every tap (p, q) the range of output columns whose input column is inside is
 * computed once, so the inner loops have no bounds checks. */
SNN_INLINE void snn_col_range(int64_t W, int64_t Wo, int64_t sw, int64_t off, int64_t *jlo, int64_t *jhi) {
    /* j with 0 <= j*sw + off < W */
    int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
    int64_t hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / sw + 1;
    *jlo = lo;
    *jhi = hi < Wo ? hi : Wo;
}

/* Window sums of a channels-last row ([H, W, C] -> [Ho, Wo, C]): every tap adds a run of
 * C contiguous elements (vectors over channels, no column tables), in the same p-major
 * then q order as the planar loops below, so the results are the same numbers. n: the
 * number of taps inside the input (for the average without the padding). */
#define SNN_POOL_CL_BODY(XT, OT, FINISH)                                                             \
    for (int64_t i = 0; i < Ho; i++) {                                                               \
        for (int64_t j = 0; j < Wo; j++) {                                                           \
            OT *restrict o = out + (i * Wo + j) * C;                                                 \
            for (int64_t c = 0; c < C; c++) o[c] = 0;                                                \
            int64_t n = 0;                                                                           \
            for (int64_t p = 0; p < kh; p++) {                                                       \
                int64_t h = i * sh + p - pt;                                                         \
                if (h < 0 || h >= H) continue;                                                       \
                for (int64_t q = 0; q < kw; q++) {                                                   \
                    int64_t w = j * sw + q - pl;                                                     \
                    if (w < 0 || w >= W) continue;                                                   \
                    n++;                                                                             \
                    const XT *restrict xr = x + (h * W + w) * C;                                     \
                    for (int64_t c = 0; c < C; c++) o[c] += (OT)xr[c];                               \
                }                                                                                    \
            }                                                                                        \
            FINISH                                                                                   \
        }                                                                                            \
    }

/* y = (sum of the window's inside elements, p-major then q) / N; N = kh*kw if
 * count_include_pad else the number of inside elements. cl: channels last. */
#define SNN_AVGPOOL_BODY(XT)                                                                         \
    if (cl) {                                                                                        \
        SNN_POOL_CL_BODY(XT, float, {                                                                \
            float d = count_include_pad ? (float)(kh * kw) : (float)n;                               \
            for (int64_t c = 0; c < C; c++) o[c] = o[c] / d;                                         \
        })                                                                                           \
        return;                                                                                      \
    }                                                                                                \
    for (int64_t c = 0; c < C; c++) {                                                                \
        const XT *xc = x + c * H * W;                                                                \
        for (int64_t i = 0; i < Ho; i++) {                                                           \
            float *o = out + (c * Ho + i) * Wo;                                                      \
            for (int64_t j = 0; j < Wo; j++) o[j] = 0.0f;                                            \
            int64_t nh = 0;                                                                          \
            for (int64_t p = 0; p < kh; p++) {                                                       \
                int64_t h = i * sh + p - pt;                                                         \
                if (h < 0 || h >= H) continue;                                                       \
                nh++;                                                                                \
                const XT *xr = xc + h * W;                                                           \
                for (int64_t q = 0; q < kw; q++) {                                                   \
                    int64_t jlo, jhi;                                                                \
                    snn_col_range(W, Wo, sw, q - pl, &jlo, &jhi);                                    \
                    for (int64_t j = jlo; j < jhi; j++) o[j] += (float)xr[j * sw + q - pl];          \
                }                                                                                    \
            }                                                                                        \
            for (int64_t j = 0; j < Wo; j++) {                                                       \
                int64_t w0 = j * sw - pl, w1 = w0 + kw;                                              \
                w0 = w0 < 0 ? 0 : w0;                                                                \
                w1 = w1 > W ? W : w1;                                                                \
                float n = count_include_pad ? (float)(kh * kw) : (float)(nh * (w1 - w0));            \
                o[j] = o[j] / n;                                                                     \
            }                                                                                        \
        }                                                                                            \
    }

SNN_CLONES static void snn_avgpool_u8(const uint8_t *x, int64_t C, int64_t H, int64_t W, float *out, int64_t Ho,
                                      int64_t Wo, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt,
                                      int64_t pl, int count_include_pad, int cl) { SNN_AVGPOOL_BODY(uint8_t) }

SNN_CLONES static void snn_avgpool_f32(const float *x, int64_t C, int64_t H, int64_t W, float *out, int64_t Ho,
                                       int64_t Wo, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt,
                                       int64_t pl, int count_include_pad, int cl) { SNN_AVGPOOL_BODY(float) }

/* Window sums (padding adds 0): the fixed-point avgpool2d / global_avgpool of a
 * power-of-two window (spec/ir.md section 6: the sum, with log2(n) more fraction bits), and
 * the small spike counts the float mode feeds to a following conv (its weights scaled by
 * 1/n). OT is wide enough for the caller's worst case. The common 2x2, stride 2 window of
 * an unpadded row reads adjacent pairs (vectorizes). */
#define SNN_POOLSUM_BODY(XT, OT)                                                                     \
    if (cl) {                                                                                        \
        SNN_POOL_CL_BODY(XT, OT, (void)n;)                                                           \
        return;                                                                                      \
    }                                                                                                \
    for (int64_t c = 0; c < C; c++) {                                                                \
        const XT *xc = x + c * H * W;                                                                \
        for (int64_t i = 0; i < Ho; i++) {                                                           \
            OT *restrict o = out + (c * Ho + i) * Wo;                                                \
            for (int64_t j = 0; j < Wo; j++) o[j] = 0;                                               \
            for (int64_t p = 0; p < kh; p++) {                                                       \
                int64_t h = i * sh + p - pt;                                                         \
                if (h < 0 || h >= H) continue;                                                       \
                const XT *restrict xr = xc + h * W;                                                  \
                if (kw == 2 && sw == 2 && pl == 0 && 2 * Wo <= W) {                                  \
                    for (int64_t j = 0; j < Wo; j++) o[j] += (OT)((OT)xr[2 * j] + (OT)xr[2 * j + 1]); \
                    continue;                                                                        \
                }                                                                                    \
                for (int64_t q = 0; q < kw; q++) {                                                   \
                    int64_t jlo, jhi;                                                                \
                    snn_col_range(W, Wo, sw, q - pl, &jlo, &jhi);                                    \
                    for (int64_t j = jlo; j < jhi; j++) o[j] += (OT)xr[j * sw + q - pl];             \
                }                                                                                    \
            }                                                                                        \
        }                                                                                            \
    }

#define SNN_POOLSUM(NAME, XT, OT)                                                                    \
    SNN_CLONES static void NAME(const XT *x, int64_t C, int64_t H, int64_t W, OT *out, int64_t Ho,     \
                                int64_t Wo, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, \
                                int64_t pl, int cl) { SNN_POOLSUM_BODY(XT, OT) }
SNN_POOLSUM(snn_poolsum_u8_u8, uint8_t, uint8_t)
SNN_POOLSUM(snn_poolsum_u8_i32, uint8_t, int32_t)
SNN_POOLSUM(snn_poolsum_u8_i64, uint8_t, int64_t)
SNN_POOLSUM(snn_poolsum_i32_i32, int32_t, int32_t)
SNN_POOLSUM(snn_poolsum_i32_i64, int32_t, int64_t)
SNN_POOLSUM(snn_poolsum_i64_i64, int64_t, int64_t)
#undef SNN_POOLSUM

/* y = max of the window's inside elements (floats: a NaN wins; an empty window gives -inf;
 * spikes: 0 for an empty window, which the caller avoids). */
#define SNN_MAXPOOL_BODY(XT, INIT, TAKE)                                                             \
    for (int64_t c = 0; c < C; c++) {                                                                \
        const XT *xc = x + c * H * W;                                                                \
        for (int64_t i = 0; i < Ho; i++) {                                                           \
            XT *o = out + (c * Ho + i) * Wo;                                                         \
            for (int64_t j = 0; j < Wo; j++) o[j] = INIT;                                            \
            for (int64_t p = 0; p < kh; p++) {                                                       \
                int64_t h = i * sh + p * dh - pt;                                                    \
                if (h < 0 || h >= H) continue;                                                       \
                const XT *xr = xc + h * W;                                                           \
                for (int64_t q = 0; q < kw; q++) {                                                   \
                    int64_t jlo, jhi;                                                                \
                    snn_col_range(W, Wo, sw, q * dw - pl, &jlo, &jhi);                               \
                    for (int64_t j = jlo; j < jhi; j++) {                                            \
                        XT v = xr[j * sw + q * dw - pl];                                             \
                        o[j] = (TAKE) ? v : o[j];                                                    \
                    }                                                                                \
                }                                                                                    \
            }                                                                                        \
        }                                                                                            \
    }

SNN_CLONES static void snn_maxpool_u8(const uint8_t *x, int64_t C, int64_t H, int64_t W, uint8_t *out, int64_t Ho,
                                      int64_t Wo, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt,
                                      int64_t pl, int64_t dh, int64_t dw) { SNN_MAXPOOL_BODY(uint8_t, 0, v > o[j]) }

SNN_CLONES static void snn_maxpool_f32(const float *x, int64_t C, int64_t H, int64_t W, float *out, int64_t Ho,
                                       int64_t Wo, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt,
                                       int64_t pl, int64_t dh, int64_t dw) {
    SNN_MAXPOOL_BODY(float, -INFINITY, (v > o[j] || v != v))
}

/* gated_maxpool2d of one sample over T steps: acc += x_t (acc: C*H*W scratch, zeroed
 * here); per window the output is x_t where acc is largest, the first such position in
 * (p, q) order winning ties (strict >); padding: acc -inf, x 0. best: Wo scratch. The
 * usual 2x2 window of stride 2 has a path without column tables (same order, same rule). */
#define SNN_GATED_BODY(XT)                                                                           \
    const int64_t S = C * H * W;                                                                     \
    const int pair = kh == 2 && kw == 2 && sh == 2 && sw == 2 && dh == 1 && dw == 1 && pt == 0 &&    \
                     pl == 0 && 2 * Ho <= H && 2 * Wo <= W;                                          \
    for (int64_t e = 0; e < S; e++) acc[e] = 0.0f;                                                   \
    for (int64_t t = 0; t < T; t++) {                                                                \
        const XT *xt = x + t * xstep;                                                                \
        for (int64_t e = 0; e < S; e++) acc[e] = acc[e] + (float)xt[e];                              \
        XT *ot = out + t * C * Ho * Wo;                                                              \
        for (int64_t c = 0; c < C; c++) {                                                            \
            for (int64_t i = 0; i < Ho; i++) {                                                       \
                XT *o = ot + (c * Ho + i) * Wo;                                                      \
                if (pair) {   /* 2x2, stride 2, inside: the four taps in order, no tables */        \
                    const float *a0 = acc + (c * H + 2 * i) * W, *a1 = a0 + W;                       \
                    const XT *x0 = xt + (c * H + 2 * i) * W, *x1 = x0 + W;                           \
                    for (int64_t j = 0; j < Wo; j++) {                                               \
                        float b = -INFINITY;                                                         \
                        XT v = 0;                                                                    \
                        int take = a0[2 * j] > b;                                                    \
                        b = take ? a0[2 * j] : b; v = take ? x0[2 * j] : v;                          \
                        take = a0[2 * j + 1] > b;                                                    \
                        b = take ? a0[2 * j + 1] : b; v = take ? x0[2 * j + 1] : v;                  \
                        take = a1[2 * j] > b;                                                        \
                        b = take ? a1[2 * j] : b; v = take ? x1[2 * j] : v;                          \
                        take = a1[2 * j + 1] > b;                                                    \
                        v = take ? x1[2 * j + 1] : v;                                                \
                        o[j] = v;                                                                    \
                    }                                                                                \
                    continue;                                                                        \
                }                                                                                    \
                for (int64_t j = 0; j < Wo; j++) { best[j] = -INFINITY; o[j] = 0; }                  \
                for (int64_t p = 0; p < kh; p++) {                                                   \
                    int64_t h = i * sh + p * dh - pt;                                                \
                    if (h < 0 || h >= H) continue;                                                   \
                    const float *ar = acc + (c * H + h) * W;                                         \
                    const XT *xr = xt + (c * H + h) * W;                                             \
                    for (int64_t q = 0; q < kw; q++) {                                               \
                        int64_t jlo, jhi, d = q * dw - pl;                                           \
                        snn_col_range(W, Wo, sw, d, &jlo, &jhi);                                     \
                        for (int64_t j = jlo; j < jhi; j++) {                                        \
                            float a = ar[j * sw + d];                                                \
                            int take = a > best[j];                                                  \
                            best[j] = take ? a : best[j];                                            \
                            o[j] = take ? xr[j * sw + d] : o[j];                                     \
                        }                                                                            \
                    }                                                                                \
                }                                                                                    \
            }                                                                                        \
        }                                                                                            \
    }

SNN_CLONES static void snn_gated_u8(const uint8_t *x, int64_t xstep, int64_t T, int64_t C, int64_t H, int64_t W,
                                    uint8_t *out, int64_t Ho, int64_t Wo, int64_t kh, int64_t kw, int64_t sh,
                                    int64_t sw, int64_t pt, int64_t pl, int64_t dh, int64_t dw, float *acc,
                                    float *best) { SNN_GATED_BODY(uint8_t) }

SNN_CLONES static void snn_gated_f32(const float *x, int64_t xstep, int64_t T, int64_t C, int64_t H, int64_t W,
                                     float *out, int64_t Ho, int64_t Wo, int64_t kh, int64_t kw, int64_t sh,
                                     int64_t sw, int64_t pt, int64_t pl, int64_t dh, int64_t dw, float *acc,
                                     float *best) { SNN_GATED_BODY(float) }

/* ---- fixed point (spec/ir.md section 6): exact integer arithmetic ---- */

/* Dense layer with int64 accumulators (layers whose worst case exceeds 31 bits):
 * out[m, n] = sum_k x[m, k] * wt[k, n] + bias[n], zero inputs skipped. */
#define SNN_DENSE_I64_BODY(XT)                                                                       \
    for (int64_t m = 0; m < M; m++) {                                                                \
        const XT *xr = x + m * K;                                                                    \
        int64_t *o = out + m * N;                                                                    \
        for (int64_t n = 0; n < N; n++) o[n] = bias ? bias[n] : 0;                                   \
        for (int64_t k = 0; k < K; k++) {                                                            \
            int64_t xv = (int64_t)xr[k];                                                             \
            if (xv == 0) continue;                                                                   \
            const int64_t *w = wt + k * ldw;                                                         \
            for (int64_t n = 0; n < N; n++) o[n] += xv * w[n];                                       \
        }                                                                                            \
    }

#define SNN_DENSE_I64_ARGS(XT) const XT *x, int64_t M, int64_t K, const int64_t *wt, int64_t N, int64_t ldw, \
    const int64_t *bias, int64_t *out

SNN_CLONES static void snn_dense_i64_u8(SNN_DENSE_I64_ARGS(uint8_t)) { SNN_DENSE_I64_BODY(uint8_t) }
SNN_CLONES static void snn_dense_i64_i32(SNN_DENSE_I64_ARGS(int32_t)) { SNN_DENSE_I64_BODY(int32_t) }
SNN_CLONES static void snn_dense_i64_i64(SNN_DENSE_I64_ARGS(int64_t)) { SNN_DENSE_I64_BODY(int64_t) }

/* Integer integrate-and-fire of one sample over T steps (spec/ir.md section 6 `if`):
 *   v = clamp(v + x_t, lo, hi);  s = v >= th;  v -= th where s (or v = 0 where s).
 * VT is the membrane type: int32 only when the caller knows v + x cannot overflow it. */
#define SNN_IFQ_BODY(XT, VT)                                                                         \
    int64_t total = 0;                                                                               \
    const VT lo_ = (VT)lo, hi_ = (VT)hi;                                                             \
    for (int64_t i0 = 0; i0 < S; i0 += SNN_IF_BLOCK) {                                               \
        int64_t nb = S - i0 < SNN_IF_BLOCK ? S - i0 : SNN_IF_BLOCK;                                  \
        VT *restrict vb = v + i0;                                                                    \
        const VT *restrict tb = th + i0;                                                             \
        for (int64_t t = 0; t < T; t++) {                                                            \
            const XT *restrict xr = x + t * xstep + i0;                                              \
            uint8_t *restrict o = out + t * S + i0;                                                  \
            int32_t c = 0;                                                                           \
            if (reset_zero) {                                                                        \
                for (int64_t i = 0; i < nb; i++) {                                                   \
                    VT vi = vb[i] + (VT)xr[i];                                                       \
                    vi = vi < lo_ ? lo_ : vi;                                                        \
                    vi = vi > hi_ ? hi_ : vi;                                                        \
                    int s = vi >= tb[i];                                                             \
                    vb[i] = s ? 0 : vi;                                                              \
                    o[i] = (uint8_t)s;                                                               \
                    c += s;                                                                          \
                }                                                                                    \
            } else {                                                                                 \
                for (int64_t i = 0; i < nb; i++) {                                                   \
                    VT vi = vb[i] + (VT)xr[i];                                                       \
                    vi = vi < lo_ ? lo_ : vi;                                                        \
                    vi = vi > hi_ ? hi_ : vi;                                                        \
                    int s = vi >= tb[i];                                                             \
                    vb[i] = s ? vi - tb[i] : vi;                                                     \
                    o[i] = (uint8_t)s;                                                               \
                    c += s;                                                                          \
                }                                                                                    \
            }                                                                                        \
            total += c;                                                                              \
        }                                                                                            \
    }                                                                                                \
    return total;

#define SNN_IFQ_ARGS(XT, VT) const XT *x, int64_t xstep, int64_t T, int64_t S, const VT *th, VT *v, uint8_t *out, \
    int64_t lo, int64_t hi, int reset_zero

SNN_CLONES static int64_t snn_ifq_u8_i32(SNN_IFQ_ARGS(uint8_t, int32_t)) { SNN_IFQ_BODY(uint8_t, int32_t) }
SNN_CLONES static int64_t snn_ifq_i32_i32(SNN_IFQ_ARGS(int32_t, int32_t)) { SNN_IFQ_BODY(int32_t, int32_t) }
SNN_CLONES static int64_t snn_ifq_u8_i64(SNN_IFQ_ARGS(uint8_t, int64_t)) { SNN_IFQ_BODY(uint8_t, int64_t) }
SNN_CLONES static int64_t snn_ifq_i32_i64(SNN_IFQ_ARGS(int32_t, int64_t)) { SNN_IFQ_BODY(int32_t, int64_t) }
SNN_CLONES static int64_t snn_ifq_i64_i64(SNN_IFQ_ARGS(int64_t, int64_t)) { SNN_IFQ_BODY(int64_t, int64_t) }

/* Fixed-point rate encoding of one sample: thr[t*xstep + e] = clamp(q, 0, 2^F) << (24-F)
 * (precomputed by the caller), out[t, e] = u[t, e] < thr. */
SNN_CLONES static void snn_encode_rate_q(const uint32_t *thr, int64_t xstep, int64_t T, int64_t n,
                                         const uint32_t *u, uint8_t *out) {
    for (int64_t t = 0; t < T; t++) {
        const uint32_t *tr = thr + t * xstep, *ur = u + t * n;
        uint8_t *o = out + t * n;
        for (int64_t e = 0; e < n; e++) o[e] = ur[e] < tr[e];
    }
}

/* Input quantization (spec/ir.md section 6): out = clamp(floor(x * scale + 1/2), lo, hi) in
 * double precision; clamping first (lo, hi are integers, floor is monotone) keeps the value
 * in range for the conversion, and floor is a truncation corrected for negatives (no libm
 * call: the loop vectorizes). Non-finite inputs give lo/hi/0 and are counted. */
#define SNN_QUANT_BODY(XT, QT)                                                                       \
    int64_t bad = 0;                                                                                 \
    const double dlo = (double)lo, dhi = (double)hi;                                                 \
    for (int64_t i = 0; i < n; i++) {                                                                \
        double xd = (double)x[i];                                                                    \
        double t = xd * scale + 0.5;                                                                 \
        int nf = !(xd - xd == 0.0);                /* NaN or infinite */                             \
        bad += nf;                                                                                   \
        t = nf ? 0.0 : t;                                                                            \
        t = t < dlo ? dlo : t;                                                                       \
        t = t > dhi ? dhi : t;                                                                       \
        int64_t q = (int64_t)t;                                                                      \
        q -= (double)q > t;                                                                          \
        out[i] = (QT)q;                                                                              \
    }                                                                                                \
    return bad;

#define SNN_QUANT_ARGS(XT, QT) const XT *x, int64_t n, double scale, int64_t lo, int64_t hi, QT *out

SNN_CLONES static int64_t snn_quant_f32_i32(SNN_QUANT_ARGS(float, int32_t)) { SNN_QUANT_BODY(float, int32_t) }
SNN_CLONES static int64_t snn_quant_f32_i64(SNN_QUANT_ARGS(float, int64_t)) { SNN_QUANT_BODY(float, int64_t) }
SNN_CLONES static int64_t snn_quant_f64_i32(SNN_QUANT_ARGS(double, int32_t)) { SNN_QUANT_BODY(double, int32_t) }
SNN_CLONES static int64_t snn_quant_f64_i64(SNN_QUANT_ARGS(double, int64_t)) { SNN_QUANT_BODY(double, int64_t) }

#endif
