// Runs the generated forward kernels on the CPU (simt.h) against naive double-precision
// references. Built and run by `engine/tests/kernels_on_cpu.rs` for each emitted shape.
#include "simt.h"
#include FORWARD_SOURCE
#include <algorithm>
#include <random>
#include <tuple>

static int failures = 0;
static std::mt19937 rng(7);

static void report(bool ok, const char* what, double value, double tolerance) {
    std::printf("%s %s: %.3e (tolerance %.1e)\n", ok ? "PASS" : "FAIL", what, value, tolerance);
    if (!ok) ++failures;
}
static float uniform(float scale) { return std::uniform_real_distribution<float>(-scale, scale)(rng); }
static std::vector<unsigned short> random_halves(size_t n, float scale) {
    std::vector<unsigned short> v(n);
    for (auto& x : v) x = float_to_half(uniform(scale));
    return v;
}
static double h(unsigned short x) { return half_to_float(x); }

// softmax(q·K/sqrt(D)) V over `len` rows of K and V (fp16 rows of HEAD_DIM).
static std::vector<double> attention(const double* q, const unsigned short* k, const unsigned short* v, int len) {
    std::vector<double> s(len), out(HEAD_DIM, 0.0);
    double m = -1e300, total = 0;
    for (int j = 0; j < len; ++j) {
        double dot = 0;
        for (int i = 0; i < HEAD_DIM; ++i) dot += q[i] * h(k[j * HEAD_DIM + i]);
        s[j] = dot / std::sqrt((double)HEAD_DIM);
        m = std::max(m, s[j]);
    }
    for (int j = 0; j < len; ++j) { s[j] = std::exp(s[j] - m); total += s[j]; }
    for (int j = 0; j < len; ++j)
        for (int i = 0; i < HEAD_DIM; ++i) out[i] += s[j] / total * h(v[j * HEAD_DIM + i]);
    return out;
}

static double relative_error(const std::vector<double>& want, const unsigned short* got) {
    double diff = 0, norm = 0;
    for (int i = 0; i < HEAD_DIM; ++i) {
        diff += (h(got[i]) - want[i]) * (h(got[i]) - want[i]);
        norm += want[i] * want[i];
    }
    return std::sqrt(diff) / std::max(std::sqrt(norm), 1e-12);
}

// `key_growth`: keys scaled by 1 + key_growth * slot / capacity, so later splits tend to hold
// larger maxes and a merge that does not rescale what it summed before goes far off.
static void test_decode(int kv_heads, std::vector<int> lengths, int capacity, int tokens_per_split, float key_growth = 0.f) {
    const int batch = lengths.size(), q_heads = kv_heads * GROUP;
    auto keys = random_halves((size_t)batch * kv_heads * capacity * HEAD_DIM, 2.0f);
    for (size_t i = 0; i < keys.size(); ++i)
        keys[i] = float_to_half((float)h(keys[i]) * (1.f + key_growth * (float)((i / HEAD_DIM) % capacity) / capacity));
    auto values = random_halves(keys.size(), 1.0f);
    auto query = random_halves((size_t)batch * q_heads * HEAD_DIM, 2.0f);
    std::vector<int> positions;
    for (int l : lengths) positions.push_back(l - 1);
    const int splits = (capacity + tokens_per_split - 1) / tokens_per_split;
    const size_t rows = (size_t)batch * q_heads;
    std::vector<float> partial_out(rows * splits * HEAD_DIM, -7.0f), partial_max(rows * splits, -7.0f), partial_sum(rows * splits, -7.0f);
    std::vector<unsigned short> out(rows * HEAD_DIM);
    launch(dim3{(unsigned)splits, (unsigned)kv_heads, (unsigned)batch}, dim3{DECODE_THREADS}, decode_attention_fp16,
           query.data(), keys.data(), values.data(), positions.data(), partial_out.data(), partial_max.data(),
           partial_sum.data(), capacity, tokens_per_split);
    // An empty split's partials must not reach the output (the merge selects; a product with a
    // zero weight would turn NaN into NaN): poison them.
    int poisoned = 0;
    for (size_t i = 0; i < rows * splits; ++i)
        if (std::isinf(partial_max[i]) && partial_max[i] < 0) {
            for (int d = 0; d < HEAD_DIM; ++d) partial_out[i * HEAD_DIM + d] = NAN;
            ++poisoned;
        }
    launch(dim3{(unsigned)rows}, dim3{MERGE_THREADS}, decode_merge, (const float*)partial_out.data(),
           (const float*)partial_max.data(), (const float*)partial_sum.data(), out.data(), splits);
    double worst = 0;
    for (int s = 0; s < batch; ++s)
        for (int head = 0; head < q_heads; ++head) {
            std::vector<double> q(HEAD_DIM);
            for (int i = 0; i < HEAD_DIM; ++i) q[i] = h(query[((size_t)s * q_heads + head) * HEAD_DIM + i]);
            const size_t base = ((size_t)s * kv_heads + head / GROUP) * capacity * HEAD_DIM;
            auto want = attention(q.data(), &keys[base], &values[base], lengths[s]);
            worst = std::max(worst, relative_error(want, &out[((size_t)s * q_heads + head) * HEAD_DIM]));
        }
    char what[160];
    std::snprintf(what, sizeof what, "decode attention + merge, %d sequences, capacity %d, %d splits of %d (%d empty, NaN partials), key growth %.1f",
                  batch, capacity, splits, tokens_per_split, poisoned, key_growth);
    report(worst < 2e-3, what, worst, 2e-3);
}

static void test_prefill(int kv_heads, int batch, int capacity, int offset, int chunk) {
    const int q_heads = kv_heads * GROUP;
    auto keys = random_halves((size_t)batch * kv_heads * capacity * HEAD_DIM, 2.0f);
    auto values = random_halves(keys.size(), 1.0f);
    auto query = random_halves((size_t)batch * q_heads * chunk * HEAD_DIM, 2.0f);
    std::vector<int> positions(batch, offset);
    std::vector<unsigned short> out((size_t)batch * chunk * q_heads * HEAD_DIM);
    launch(dim3{(unsigned)((chunk + PREFILL_WARPS - 1) / PREFILL_WARPS), (unsigned)q_heads, (unsigned)batch},
           dim3{PREFILL_THREADS}, prefill_attention_fp16, query.data(), keys.data(), values.data(),
           positions.data(), out.data(), chunk, capacity);
    double worst = 0;
    for (int s = 0; s < batch; ++s)
        for (int head = 0; head < q_heads; ++head)
            for (int t = 0; t < chunk; ++t) {
                std::vector<double> q(HEAD_DIM);
                for (int i = 0; i < HEAD_DIM; ++i) q[i] = h(query[(((size_t)s * q_heads + head) * chunk + t) * HEAD_DIM + i]);
                const size_t base = ((size_t)s * kv_heads + head / GROUP) * capacity * HEAD_DIM;
                auto want = attention(q.data(), &keys[base], &values[base], offset + t + 1);
                worst = std::max(worst, relative_error(want, &out[(((size_t)s * chunk + t) * q_heads + head) * HEAD_DIM]));
            }
    report(worst < 2e-3, "prefill attention, chunk at an offset", worst, 2e-3);
}

static void test_rope(int seqs, int chunk, int kv_heads) {
    const int q_heads = kv_heads * GROUP, heads = q_heads + 2 * kv_heads, pairs = HEAD_DIM / 2, positions_max = 64;
    std::vector<float> cosines(positions_max * pairs), sines(positions_max * pairs);
    for (int p = 0; p < positions_max; ++p)
        for (int i = 0; i < pairs; ++i) {
            const double angle = p / std::pow(10000.0, 2.0 * i / HEAD_DIM);
            cosines[p * pairs + i] = (float)std::cos(angle);
            sines[p * pairs + i] = (float)std::sin(angle);
        }
    std::vector<float> qkv((size_t)seqs * chunk * heads * HEAD_DIM);
    for (auto& x : qkv) x = uniform(3.0f);
    std::vector<int> positions;
    for (int s = 0; s < seqs; ++s) positions.push_back(5 * s + 3);
    std::vector<unsigned short> q((size_t)seqs * q_heads * chunk * HEAD_DIM), k((size_t)seqs * kv_heads * chunk * HEAD_DIM), v(k.size());
    launch(dim3{(unsigned)(seqs * chunk)}, dim3{256}, rope_qkv, (const float*)qkv.data(), (const float*)cosines.data(),
           (const float*)sines.data(), (const int*)positions.data(), q.data(), k.data(), v.data(), q_heads, kv_heads, chunk,
           (unsigned short*)nullptr, (unsigned short*)nullptr, (const int*)nullptr, 0, 0, 0, 0, 0);
    double worst = 0;
    for (int s = 0; s < seqs; ++s)
        for (int t = 0; t < chunk; ++t)
            for (int head = 0; head < heads; ++head)
                for (int i = 0; i < pairs; ++i) {
                    const float* src = &qkv[((size_t)(s * chunk + t) * heads + head) * HEAD_DIM];
                    const int p = positions[s] + t;
                    double a = src[2 * i], b = src[2 * i + 1], c = cosines[p * pairs + i], sn = sines[p * pairs + i];
                    double first = a, second = b;
                    unsigned short* dst;
                    if (head < q_heads) dst = &q[(((size_t)s * q_heads + head) * chunk + t) * HEAD_DIM];
                    else if (head < q_heads + kv_heads) dst = &k[(((size_t)s * kv_heads + head - q_heads) * chunk + t) * HEAD_DIM];
                    else dst = &v[(((size_t)s * kv_heads + head - q_heads - kv_heads) * chunk + t) * HEAD_DIM];
                    if (head < q_heads + kv_heads) { first = a * c - b * sn; second = a * sn + b * c; }
                    worst = std::max(worst, std::fabs(h(dst[2 * i]) - first) / 4.0);
                    worst = std::max(worst, std::fabs(h(dst[2 * i + 1]) - second) / 4.0);
                }
    report(worst < 2e-3, "RoPE and head split (interleaved pairs)", worst, 2e-3);
}

static void test_norm_silu(int rows, int width) {
    std::vector<float> x(rows * width), delta(rows * width), weight(width), x0;
    for (auto& a : x) a = uniform(2.0f);
    for (auto& a : delta) a = uniform(1.0f);
    for (auto& a : weight) a = 1.0f + uniform(0.3f);
    x0 = x;
    std::vector<unsigned short> out(rows * width);
    double worst = 0;
    for (int with_delta = 0; with_delta < 2; ++with_delta) {
        x = x0;
        launch(dim3{(unsigned)rows}, dim3{256}, add_rms_norm, x.data(), with_delta ? (const float*)delta.data() : (const float*)nullptr,
               (const float*)weight.data(), out.data(), width, 1e-5f);
        for (int r = 0; r < rows; ++r) {
            double ms = 0;
            std::vector<double> y(width);
            for (int i = 0; i < width; ++i) { y[i] = x0[r * width + i] + (with_delta ? delta[r * width + i] : 0.0); ms += y[i] * y[i]; }
            const double inv = 1.0 / std::sqrt(ms / width + 1e-5);
            for (int i = 0; i < width; ++i) {
                worst = std::max(worst, std::fabs(x[r * width + i] - y[i]));
                worst = std::max(worst, std::fabs(h(out[r * width + i]) - y[i] * inv * weight[i]) / 4.0);
            }
        }
    }
    report(worst < 2e-3, "residual add + RMSNorm", worst, 2e-3);
    std::vector<float> gate_up(rows * 2 * width);
    for (auto& a : gate_up) a = uniform(4.0f);
    launch(dim3{(unsigned)rows}, dim3{256}, silu_mul, (const float*)gate_up.data(), out.data(), width);
    worst = 0;
    for (int r = 0; r < rows; ++r)
        for (int i = 0; i < width; ++i) {
            const double g = gate_up[r * 2 * width + i], u = gate_up[r * 2 * width + width + i];
            worst = std::max(worst, std::fabs(h(out[r * width + i]) - g / (1 + std::exp(-g)) * u) / 16.0);
        }
    report(worst < 2e-3, "SiLU(gate) * up", worst, 2e-3);
}

static void test_heads(int rows, int vocab) {
    std::vector<float> logits((size_t)rows * vocab);
    for (auto& a : logits) a = uniform(8.0f);
    logits[(size_t)1 * vocab + 17] = 50.0f;  // a tie: the first index wins
    logits[(size_t)1 * vocab + 900] = 50.0f;
    if (vocab > 4200) {  // a tie within one thread's stride (indices 4 and 4 + 4 * ARGMAX_THREADS), and a NaN
        logits[4] = 60.0f;
        logits[4 + 4 * ARGMAX_THREADS] = 60.0f;
        logits[3] = NAN;
    }
    std::vector<int> picks(rows, -1);
    launch(dim3{(unsigned)rows}, dim3{ARGMAX_THREADS}, argmax_rows, (const float*)logits.data(), picks.data(), vocab);
    int wrong = 0;
    for (int r = 0; r < rows; ++r) {
        int best = 0;
        for (int i = 1; i < vocab; ++i) if (logits[(size_t)r * vocab + i] > logits[(size_t)r * vocab + best]) best = i;
        wrong += picks[r] != best;
    }
    report(wrong == 0 && picks[1] == 17 && (vocab <= 4200 || picks[0] == 4), "argmax (first of equal maxima, NaN skipped)", wrong, 0);
    const int stride = 10;
    std::vector<int> targets(rows), positions(rows);
    for (int r = 0; r < rows; ++r) { targets[r] = r == 2 ? -1 : (r * 131) % vocab; positions[r] = r % stride; }
    std::vector<float> nll((size_t)rows * stride, -1.0f);
    launch(dim3{(unsigned)rows}, dim3{256}, token_nll, (const float*)logits.data(), (const int*)targets.data(),
           (const int*)positions.data(), nll.data(), vocab, stride);
    double worst = 0;
    for (int r = 0; r < rows; ++r) {
        const float* l = &logits[(size_t)r * vocab];
        double m = -1e300, total = 0;
        for (int i = 0; i < vocab; ++i) m = std::max(m, (double)l[i]);
        for (int i = 0; i < vocab; ++i) total += std::exp(l[i] - m);
        const double want = targets[r] < 0 ? -1.0 : std::log(total) + m - l[targets[r]];
        worst = std::max(worst, std::fabs(nll[(size_t)r * stride + positions[r]] - want));
    }
    report(worst < 1e-3, "log-softmax NLL of the target (unscored rows untouched)", worst, 1e-3);
}

static void test_cache_and_teacher(int seqs, int kv_heads, int count, int capacity) {
    auto new_keys = random_halves((size_t)seqs * kv_heads * count * HEAD_DIM, 1.0f), new_values = random_halves(new_keys.size(), 1.0f);
    std::vector<unsigned short> keys((size_t)seqs * kv_heads * capacity * HEAD_DIM, 0), values(keys.size(), 0);
    std::vector<int> positions;
    for (int s = 0; s < seqs; ++s) positions.push_back(s * 3);
    launch(dim3{(unsigned)count, (unsigned)kv_heads, (unsigned)seqs}, dim3{HEAD_DIM / 8}, kv_append_fp16,
           (const unsigned short*)new_keys.data(), (const unsigned short*)new_values.data(), keys.data(), values.data(),
           (const int*)positions.data(), count, capacity);
    int wrong = 0;
    for (int s = 0; s < seqs; ++s)
        for (int hh = 0; hh < kv_heads; ++hh)
            for (int slot = 0; slot < capacity; ++slot)
                for (int i = 0; i < HEAD_DIM; ++i) {
                    const int t = slot - positions[s];
                    const size_t at = (((size_t)s * kv_heads + hh) * capacity + slot) * HEAD_DIM + i;
                    const unsigned short want_k = t >= 0 && t < count ? new_keys[(((size_t)s * kv_heads + hh) * count + t) * HEAD_DIM + i] : 0;
                    const unsigned short want_v = t >= 0 && t < count ? new_values[(((size_t)s * kv_heads + hh) * count + t) * HEAD_DIM + i] : 0;
                    wrong += keys[at] != want_k || values[at] != want_v;
                }
    report(wrong == 0, "FP16 cache append at positions (slots past the capacity dropped)", wrong, 0);
    const int stride = 6;
    std::vector<int> windows(seqs * stride), tokens(seqs), targets(seqs), pos(seqs);
    for (int i = 0; i < seqs * stride; ++i) windows[i] = 100 + i;
    for (int s = 0; s < seqs; ++s) pos[s] = s % stride;
    launch(dim3{1}, dim3{64}, gather_step_tokens, (const int*)windows.data(), (const int*)pos.data(), tokens.data(), targets.data(), seqs, stride);
    launch(dim3{1}, dim3{64}, advance_positions, pos.data(), seqs, 2);
    wrong = 0;
    for (int s = 0; s < seqs; ++s) {
        const int p = s % stride;
        wrong += tokens[s] != 100 + s * stride + p;
        wrong += targets[s] != (p + 1 < stride ? 100 + s * stride + p + 1 : -1);
        wrong += pos[s] != p + 2;
    }
    report(wrong == 0, "teacher-forcing gather and position advance", wrong, 0);
    std::vector<unsigned short> table = random_halves(50 * 40, 1.0f);
    std::vector<int> ids = {3, 49, -2, 77};
    std::vector<float> x(4 * 40);
    launch(dim3{4}, dim3{256}, embed_tokens, (const unsigned short*)table.data(), (const int*)ids.data(), x.data(), 40, 50);
    wrong = 0;
    for (int r = 0; r < 4; ++r) {
        const int id = ids[r] >= 0 && ids[r] < 50 ? ids[r] : 0;
        for (int i = 0; i < 40; ++i) wrong += x[r * 40 + i] != half_to_float(table[id * 40 + i]);
    }
    report(wrong == 0, "embedding gather (ids outside the vocabulary read row 0)", wrong, 0);
}

// The skinny projections (skinny.cuh) against double references of the cuBLAS path's stages:
// the normed rows rounded to fp16 as `add_rms_norm` rounds them, then exact dot products.
static std::vector<double> normed_halves(const std::vector<float>& x, const std::vector<float>& weight, int rows, int width) {
    std::vector<double> out((size_t)rows * width);
    for (int r = 0; r < rows; ++r) {
        double squares = 0;
        for (int i = 0; i < width; ++i) squares += (double)x[r * width + i] * x[r * width + i];
        const double inverse = 1.0 / std::sqrt(squares / width + 1e-5);
        for (int i = 0; i < width; ++i) out[(size_t)r * width + i] = h(float_to_half((float)(x[r * width + i] * inverse * weight[i])));
    }
    return out;
}
static double dot_row(const std::vector<double>& input, int r, const std::vector<unsigned short>& weight, int column, int k) {
    double sum = 0;
    for (int i = 0; i < k; ++i) sum += input[(size_t)r * k + i] * h(weight[(size_t)column * k + i]);
    return sum;
}

static void test_skinny(int rows, int kv_heads, int width) {
    const int q_heads = kv_heads * GROUP, heads = q_heads + 2 * kv_heads, pairs = HEAD_DIM / 2, positions_max = 40;
    std::vector<float> x((size_t)rows * width), norm(width);
    for (auto& a : x) a = uniform(2.0f);
    for (auto& a : norm) a = 1.0f + uniform(0.3f);
    const auto normed = normed_halves(x, norm, rows, width);
    // Weights shrink with the width, so the sums (and the fp16 outputs' rounding) keep one scale.
    const float scale = 0.2f * (float)std::sqrt(136.0 / width);
    char what[160];

    // RMSNorm -> QKV -> RoPE.
    auto qkv_weight = random_halves((size_t)heads * HEAD_DIM * width, scale);
    std::vector<float> cosines(positions_max * pairs), sines(positions_max * pairs);
    for (int p = 0; p < positions_max; ++p)
        for (int i = 0; i < pairs; ++i) {
            const double angle = p / std::pow(10000.0, 2.0 * i / HEAD_DIM);
            cosines[p * pairs + i] = (float)std::cos(angle);
            sines[p * pairs + i] = (float)std::sin(angle);
        }
    std::vector<int> positions;
    for (int r = 0; r < rows; ++r) positions.push_back((7 * r + 3) % positions_max);
    std::vector<unsigned short> q((size_t)rows * q_heads * HEAD_DIM), k((size_t)rows * kv_heads * HEAD_DIM), v(k.size());
    const unsigned pair_blocks = (heads * pairs + SKINNY_WARPS - 1) / SKINNY_WARPS;
    launch(dim3{pair_blocks}, dim3{SKINNY_THREADS}, skinny_qkv_rope, (const float*)x.data(), (const float*)norm.data(), 1e-5f,
           (const unsigned short*)qkv_weight.data(), (const float*)cosines.data(), (const float*)sines.data(),
           (const int*)positions.data(), q.data(), k.data(), v.data(), rows, width, q_heads, kv_heads, (unsigned short*)nullptr,
           (unsigned short*)nullptr, (const int*)nullptr, 0, 0, 0, 0, 0);
    double worst = 0;
    for (int r = 0; r < rows; ++r)
        for (int head = 0; head < heads; ++head)
            for (int i = 0; i < pairs; ++i) {
                const double a = dot_row(normed, r, qkv_weight, head * HEAD_DIM + 2 * i, width);
                const double b = dot_row(normed, r, qkv_weight, head * HEAD_DIM + 2 * i + 1, width);
                double first = a, second = b;
                const unsigned short* dst;
                if (head < q_heads) dst = &q[((size_t)r * q_heads + head) * HEAD_DIM];
                else if (head < q_heads + kv_heads) dst = &k[((size_t)r * kv_heads + head - q_heads) * HEAD_DIM];
                else dst = &v[((size_t)r * kv_heads + head - q_heads - kv_heads) * HEAD_DIM];
                if (head < q_heads + kv_heads) {
                    const double c = cosines[positions[r] * pairs + i], sn = sines[positions[r] * pairs + i];
                    first = a * c - b * sn;
                    second = a * sn + b * c;
                }
                worst = std::max(worst, std::fabs(h(dst[2 * i]) - first) / 4.0);
                worst = std::max(worst, std::fabs(h(dst[2 * i + 1]) - second) / 4.0);
            }
    std::snprintf(what, sizeof what, "skinny RMSNorm -> QKV -> RoPE, %d rows, width %d", rows, width);
    report(worst < 2e-3, what, worst, 2e-3);

    // x += input · Wᵀ with an odd column count (the last warp's second column masked) and an
    // inner size over one staged chunk.
    const int k_long = SKINNY_CHUNK + 72, n_odd = 37;
    auto input = random_halves((size_t)rows * k_long, 1.0f);
    auto residual_weight = random_halves((size_t)n_odd * k_long, 0.05f);
    std::vector<float> residual((size_t)rows * n_odd);
    for (auto& a : residual) a = uniform(1.0f);
    const auto residual0 = residual;
    launch(dim3{(unsigned)((n_odd + 2 * SKINNY_WARPS - 1) / (2 * SKINNY_WARPS))}, dim3{SKINNY_THREADS}, skinny_residual,
           residual.data(), (const unsigned short*)input.data(), (const unsigned short*)residual_weight.data(), rows, k_long, n_odd);
    std::vector<double> input_d(input.size());
    for (size_t i = 0; i < input.size(); ++i) input_d[i] = h(input[i]);
    worst = 0;
    for (int r = 0; r < rows; ++r)
        for (int n = 0; n < n_odd; ++n)
            worst = std::max(worst, std::fabs(residual[(size_t)r * n_odd + n] - residual0[(size_t)r * n_odd + n] - dot_row(input_d, r, residual_weight, n, k_long)));
    std::snprintf(what, sizeof what, "skinny x += input W^T, %d rows, k %d (2 staged chunks), %d columns", rows, k_long, n_odd);
    report(worst < 1e-3, what, worst, 1e-3);

    // RMSNorm -> gate, up -> SiLU(gate) * up.
    const int ff = 45;
    auto gate_up_weight = random_halves((size_t)2 * ff * width, scale);
    std::vector<unsigned short> act((size_t)rows * ff);
    launch(dim3{(unsigned)((ff + SKINNY_WARPS - 1) / SKINNY_WARPS)}, dim3{SKINNY_THREADS}, skinny_gate_up_silu, (const float*)x.data(),
           (const float*)norm.data(), 1e-5f, (const unsigned short*)gate_up_weight.data(), act.data(), rows, width, ff);
    worst = 0;
    for (int r = 0; r < rows; ++r)
        for (int j = 0; j < ff; ++j) {
            const double g = dot_row(normed, r, gate_up_weight, j, width), u = dot_row(normed, r, gate_up_weight, ff + j, width);
            worst = std::max(worst, std::fabs(h(act[(size_t)r * ff + j]) - g / (1 + std::exp(-g)) * u) / 4.0);
        }
    std::snprintf(what, sizeof what, "skinny RMSNorm -> gate/up -> SiLU(gate) * up, %d rows, width %d", rows, width);
    report(worst < 2e-3, what, worst, 2e-3);

    // RMSNorm -> output head.
    const int vocab = 53;
    auto head_weight = random_halves((size_t)vocab * width, scale);
    std::vector<float> logits((size_t)rows * vocab, -99.0f);
    launch(dim3{(unsigned)((vocab + 2 * SKINNY_WARPS - 1) / (2 * SKINNY_WARPS))}, dim3{SKINNY_THREADS}, skinny_logits, (const float*)x.data(),
           (const float*)norm.data(), 1e-5f, (const unsigned short*)head_weight.data(), logits.data(), rows, width, vocab);
    worst = 0;
    for (int r = 0; r < rows; ++r)
        for (int n = 0; n < vocab; ++n) worst = std::max(worst, std::fabs(logits[(size_t)r * vocab + n] - dot_row(normed, r, head_weight, n, width)));
    std::snprintf(what, sizeof what, "skinny RMSNorm -> output head, %d rows, width %d", rows, width);
    report(worst < 1e-3, what, worst, 1e-3);
}

// The projections writing K and V into a cache's fp16 slots (TokenSlots) instead of the step's
// k and v: each token's rows land bit-identical to what the buffers get, in the slot its
// position maps to (sinks, then the window ring; the FP16 cache's slot = position), in the
// sequence slot the table names; nothing else is touched, and a token without a slot (past the
// capacity) is dropped.
static void test_token_slots(int rows, int kv_heads) {
    const int q_heads = kv_heads * GROUP, heads = q_heads + 2 * kv_heads, pairs = HEAD_DIM / 2, width = 64, positions_max = 40;
    std::vector<float> x((size_t)rows * width), norm(width), cosines(positions_max * pairs), sines(positions_max * pairs);
    for (auto& a : x) a = uniform(2.0f);
    for (auto& a : norm) a = 1.0f + uniform(0.3f);
    for (auto& a : cosines) a = uniform(1.0f);
    for (auto& a : sines) a = uniform(1.0f);
    auto weight = random_halves((size_t)heads * HEAD_DIM * width, 0.2f);
    const std::vector<int> candidates = {0, 3, 9, 1, 38, 2, 17, 5};  // sinks, ring, past a small capacity
    std::vector<int> positions, seq_slot;
    for (int r = 0; r < rows; ++r) {
        positions.push_back(candidates[r % candidates.size()]);
        seq_slot.push_back(rows - r);  // reversed, slot 0 unused
    }
    std::vector<unsigned short> q((size_t)rows * q_heads * HEAD_DIM), k((size_t)rows * kv_heads * HEAD_DIM), v(k.size());
    const unsigned blocks = (heads * pairs + SKINNY_WARPS - 1) / SKINNY_WARPS;
    launch(dim3{blocks}, dim3{SKINNY_THREADS}, skinny_qkv_rope, (const float*)x.data(), (const float*)norm.data(), 1e-5f,
           (const unsigned short*)weight.data(), (const float*)cosines.data(), (const float*)sines.data(),
           (const int*)positions.data(), q.data(), k.data(), v.data(), rows, width, q_heads, kv_heads, (unsigned short*)nullptr,
           (unsigned short*)nullptr, (const int*)nullptr, 0, 0, 0, 0, 0);
    // {sinks, residual, capacity, table}: the VQ cache's sinks and ring; the FP16 cache's slot = position.
    struct Layout { int sinks, residual, capacity; bool table; };
    for (const Layout layout : {Layout{2, 3, 5, true}, Layout{12, 0, 12, false}}) {
        const int slots = layout.table ? rows + 1 : rows;
        const unsigned short sentinel = 0x7e01;
        const size_t cache_len = (size_t)slots * kv_heads * layout.capacity * HEAD_DIM;
        std::vector<unsigned short> keys(cache_len, sentinel), values(cache_len, sentinel), q2(q.size());
        std::vector<unsigned short> k_unused(k.size(), sentinel), v_unused(v.size(), sentinel);
        launch(dim3{blocks}, dim3{SKINNY_THREADS}, skinny_qkv_rope, (const float*)x.data(), (const float*)norm.data(), 1e-5f,
               (const unsigned short*)weight.data(), (const float*)cosines.data(), (const float*)sines.data(),
               (const int*)positions.data(), q2.data(), k_unused.data(), v_unused.data(), rows, width, q_heads, kv_heads,
               keys.data(), values.data(), layout.table ? (const int*)seq_slot.data() : (const int*)nullptr, slots,
               layout.capacity, layout.sinks, layout.residual, 0);
        // Expected cache: the sentinel everywhere but each token's slot, holding what the
        // buffers got.
        const auto expected = [&](const std::vector<unsigned short>& from_k, const std::vector<unsigned short>& from_v) {
            std::pair<std::vector<unsigned short>, std::vector<unsigned short>> want{std::vector<unsigned short>(cache_len, sentinel),
                                                                                     std::vector<unsigned short>(cache_len, sentinel)};
            for (int r = 0; r < rows; ++r) {
                const int p = positions[r];
                int index = p < layout.sinks ? p : (layout.residual > 0 ? layout.sinks + (p - layout.sinks) % layout.residual : -1);
                if (index >= layout.capacity) index = -1;
                if (index < 0) continue;
                const int slot = layout.table ? seq_slot[r] : r;
                for (int head = 0; head < kv_heads; ++head)
                    for (int i = 0; i < HEAD_DIM; ++i) {
                        const size_t at = (((size_t)slot * kv_heads + head) * layout.capacity + index) * HEAD_DIM + i;
                        want.first[at] = from_k[((size_t)r * kv_heads + head) * HEAD_DIM + i];
                        want.second[at] = from_v[((size_t)r * kv_heads + head) * HEAD_DIM + i];
                    }
            }
            return want;
        };
        auto [want_keys, want_values] = expected(k, v);
        const bool ok = keys == want_keys && values == want_values && q2 == q &&
                        std::all_of(k_unused.begin(), k_unused.end(), [&](unsigned short a) { return a == sentinel; }) &&
                        std::all_of(v_unused.begin(), v_unused.end(), [&](unsigned short a) { return a == sentinel; });
        char what[160];
        std::snprintf(what, sizeof what, "skinny QKV into the cache's slots (sinks %d, ring %d, capacity %d, %s), %d rows, bit-identical",
                      layout.sinks, layout.residual, layout.capacity, layout.table ? "slot table" : "entry = slot", rows);
        report(ok, what, ok ? 0.0 : 1.0, 0.0);

        // rope_qkv (the cuBLAS path's) writes the same slots from the same fused row.
        std::vector<float> qkv((size_t)rows * heads * HEAD_DIM);
        for (auto& a : qkv) a = uniform(2.0f);
        // Edge rows for the int8 rule (V heads, which RoPE leaves as they are): .5 ties under
        // a power-of-two scale, a subnormal f16 scale, a zero row, a NaN and an infinity.
        const auto v_row = [&](int r, int head) { return &qkv[((size_t)r * heads + q_heads + kv_heads + head) * HEAD_DIM]; };
        for (int i = 0; i < HEAD_DIM; ++i) {
            const float ties[4] = {127.f, 0.5f, -2.5f, 1.5f};
            v_row(0, 0)[i] = ties[i % 4] * 0.0625f;          // scale 2^-4: codes 127, 1, -3, 2
            v_row(rows - 1, kv_heads - 1)[i] = (i % 3 - 1) * 127.f * 0x1p-20f;  // scale 2^-20
        }
        if (rows > 1) {
            for (int i = 0; i < HEAD_DIM; ++i) v_row(1, 0)[i] = 0.f;
            v_row(1, kv_heads - 1)[5] = NAN;
        }
        if (rows > 2) v_row(2, 0)[HEAD_DIM - 1] = INFINITY;
        std::vector<unsigned short> q3(q.size()), k3(k.size()), v3(v.size());
        launch(dim3{(unsigned)rows}, dim3{64}, rope_qkv, (const float*)qkv.data(), (const float*)cosines.data(), (const float*)sines.data(),
               (const int*)positions.data(), q3.data(), k3.data(), v3.data(), q_heads, kv_heads, 1, (unsigned short*)nullptr,
               (unsigned short*)nullptr, (const int*)nullptr, 0, 0, 0, 0, 0);
        std::vector<unsigned short> keys3(cache_len, sentinel), values3(cache_len, sentinel), q4(q.size());
        launch(dim3{(unsigned)rows}, dim3{64}, rope_qkv, (const float*)qkv.data(), (const float*)cosines.data(), (const float*)sines.data(),
               (const int*)positions.data(), q4.data(), k_unused.data(), v_unused.data(), q_heads, kv_heads, 1, keys3.data(),
               values3.data(), layout.table ? (const int*)seq_slot.data() : (const int*)nullptr, slots, layout.capacity, layout.sinks,
               layout.residual, 0);
        std::tie(want_keys, want_values) = expected(k3, v3);
        const bool ok3 = keys3 == want_keys && values3 == want_values && q4 == q3 &&
                         std::all_of(k_unused.begin(), k_unused.end(), [&](unsigned short a) { return a == sentinel; });
        std::snprintf(what, sizeof what, "RoPE into the cache's slots (sinks %d, ring %d, capacity %d, %s), %d rows, bit-identical",
                      layout.sinks, layout.residual, layout.capacity, layout.table ? "slot table" : "entry = slot", rows);
        report(ok3, what, ok3 ? 0.0 : 1.0, 0.0);

        // rope_qkv into int8 rows: each K and V row of k3 and v3 (the fp16 values) as
        // vecinfer_quant::window makes it, codes and scale bit for bit; the rest untouched.
        const size_t rows_total = (size_t)slots * kv_heads * layout.capacity;
        const size_t int8_len = rows_total * (HEAD_DIM / 2) + (rows_total + 1) / 2 * 2;
        std::vector<unsigned short> keys8(int8_len, sentinel), values8(int8_len, sentinel), q5(q.size());
        std::vector<unsigned short> want_keys8(int8_len, sentinel), want_values8(int8_len, sentinel);
        const auto int8_row = [&](const unsigned short* from, std::vector<unsigned short>& into, size_t row) {
            float absmax = 0.f;
            bool finite = true;
            for (int i = 0; i < HEAD_DIM; ++i) {
                absmax = std::max(absmax, std::fabs((float)h(from[i])));
                finite = finite && std::isfinite((float)h(from[i]));
            }
            const float wanted = absmax / 127.f;
            unsigned short scale = float_to_half(wanted);
            if ((float)h(scale) < wanted) ++scale;
            if (!finite) scale = 0x7e00;
            const float s = (float)h(scale);
            for (int i = 0; i < HEAD_DIM / 2; ++i) {
                const int a = s > 0.f ? (int)std::round((float)h(from[2 * i]) / s) : 0;
                const int b = s > 0.f ? (int)std::round((float)h(from[2 * i + 1]) / s) : 0;
                into[row * (HEAD_DIM / 2) + i] = (unsigned short)((a & 0xff) | ((b & 0xff) << 8));
            }
            into[rows_total * (HEAD_DIM / 2) + row] = scale;
        };
        for (int r = 0; r < rows; ++r) {
            const int p = positions[r];
            int index = p < layout.sinks ? p : (layout.residual > 0 ? layout.sinks + (p - layout.sinks) % layout.residual : -1);
            if (index >= layout.capacity || index < 0) continue;
            const int slot = layout.table ? seq_slot[r] : r;
            for (int head = 0; head < kv_heads; ++head) {
                const size_t row = ((size_t)slot * kv_heads + head) * layout.capacity + index;
                int8_row(&k3[((size_t)r * kv_heads + head) * HEAD_DIM], want_keys8, row);
                int8_row(&v3[((size_t)r * kv_heads + head) * HEAD_DIM], want_values8, row);
            }
        }
        launch(dim3{(unsigned)rows}, dim3{64}, rope_qkv, (const float*)qkv.data(), (const float*)cosines.data(), (const float*)sines.data(),
               (const int*)positions.data(), q5.data(), k_unused.data(), v_unused.data(), q_heads, kv_heads, 1, keys8.data(),
               values8.data(), layout.table ? (const int*)seq_slot.data() : (const int*)nullptr, slots, layout.capacity, layout.sinks,
               layout.residual, 1);
        // The rule itself on the ties row (row 0 sits in slot index 0): codes 127, 1, -3, 2 under
        // scale 2^-4 (f16 0x2c00).
        const size_t tie_row = (size_t)(layout.table ? seq_slot[0] : 0) * kv_heads * layout.capacity;
        const bool ties = want_values8[tie_row * (HEAD_DIM / 2)] == (127 | (1 << 8)) &&
                          want_values8[tie_row * (HEAD_DIM / 2) + 1] == ((-3 & 0xff) | (2 << 8)) &&
                          want_values8[rows_total * (HEAD_DIM / 2) + tie_row] == 0x2c00;
        report(ties, "the int8 rule's reference: .5 ties away from zero, an exact power-of-two scale", ties ? 0.0 : 1.0, 0.0);
        const bool ok8 = keys8 == want_keys8 && values8 == want_values8 && q5 == q3 &&
                         std::all_of(k_unused.begin(), k_unused.end(), [&](unsigned short a) { return a == sentinel; });
        std::snprintf(what, sizeof what, "RoPE into int8 slot rows (sinks %d, ring %d, capacity %d, %s), %d rows, bit-identical",
                      layout.sinks, layout.residual, layout.capacity, layout.table ? "slot table" : "entry = slot", rows);
        report(ok8, what, ok8 ? 0.0 : 1.0, 0.0);
    }
}

int main() {
    std::printf("HEAD_DIM %d GROUP %d DECODE_WARPS %d DECODE_UNROLL %d\n", HEAD_DIM, GROUP, DECODE_WARPS, DECODE_UNROLL);
    const int kv_heads = GROUP == 1 ? 3 : 2;
    test_decode(kv_heads, {1, 300, 777, 1000}, 1024, 256);  // uneven lengths, empty splits
    test_decode(kv_heads, {1000, 33}, 1024, 1024);           // one split
    test_decode(kv_heads, {5, 64}, 512, TOKENS_PER_ITERATION); // the smallest split
    // More splits than one batch of the merge (8 splits) per merge part: the merge rescales
    // from batch to batch, and ends in a part-full batch.
    const int many = 8 * (MERGE_THREADS / (HEAD_DIM / 4)) + 3;
    test_decode(kv_heads, {many * TOKENS_PER_ITERATION - 5, 40}, many * TOKENS_PER_ITERATION, TOKENS_PER_ITERATION, 1.5f);
    test_prefill(kv_heads, 2, 100, 70, 13);
    test_rope(3, 4, kv_heads);
    test_norm_silu(3, 576);
    test_heads(4, 1000);  // 16-byte loads
    test_heads(3, 4099);  // a row length that is not a multiple of 4: scalar loads
    test_heads(2, 8200);  // several quads per thread
    test_cache_and_teacher(3, kv_heads, 5, 12);
    test_skinny(1, kv_heads, 136);
    test_skinny(SKINNY_ROWS, kv_heads, 136);
    test_skinny(3, kv_heads, SKINNY_CHUNK + 136);  // RMS over two staged chunks
    test_token_slots(SKINNY_ROWS, kv_heads);
    test_token_slots(3, kv_heads);
    std::printf("%d failures\n", failures);
    return failures == 0 ? 0 : 1;
}
