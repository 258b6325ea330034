"""A histogram kernel for skewed token streams on CUDA.

``torch.bincount`` issues one global atomic per id; on real token streams a few ids hold a large
share (GPT-2's "Ġ" is 41% of all tokens), so thousands of threads serialise on the same counters.
This kernel keeps per-block counters for the hottest id range in shared memory, so a hot id costs a
shared-memory atomic instead of a global one, reads four ids per 16-byte load, and counts a warp of
one id (a degenerate stream: the incident's 99.99% ``<unk>``) into a register run, one atomic per
run. Merging every warp's equal ids first (``__match_any_sync``), the first design, measured slower
than the atomics it saves; it stays selectable (``DEFAULT_TUNING`` below has the figures).
Compiled through CuPy's NVRTC when CuPy is installed (GPU images ship it); otherwise the caller
falls back to ``torch.bincount``.
"""

from __future__ import annotations

from functools import lru_cache

HOT = 12288  # shared-memory counters per block: 48 KiB of uint32

_SOURCE = r"""
extern "C" __global__ void token_histogram(const int* __restrict__ ids, long long n,
                                           unsigned long long* __restrict__ out, int vocab) {
    __shared__ unsigned int local[%(hot)d];
    for (int i = threadIdx.x; i < %(hot)d; i += blockDim.x) local[i] = 0u;
    __syncthreads();
    const unsigned lane = threadIdx.x & 31u;
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long base = (long long)blockIdx.x * blockDim.x; base < n; base += stride) {
        long long i = base + threadIdx.x;
        bool valid = i < n;
        int v = valid ? ids[i] : -1;
        if (valid && (v < 0 || v >= vocab)) v = vocab;  /* out of vocab (ids >= 2^31 arrive negative): the last bin */
        unsigned active = __ballot_sync(0xffffffffu, valid);
        if (!valid) continue;
        unsigned peers = __match_any_sync(active, v);
        int leader = __ffs(peers) - 1;
        if ((int)lane == leader) {
            unsigned count = __popc(peers);
            if (v < %(hot)d) atomicAdd(&local[v], count);
            else atomicAdd(&out[v], (unsigned long long)count);
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < %(hot)d && i <= vocab; i += blockDim.x) {
        unsigned c = local[i];
        if (c) atomicAdd(&out[i], (unsigned long long)c);
    }
}
"""


# Shared by the vectorised kernels: a lane's pending run of one id, then the ids past the last
# whole int4 (fewer than four), counted by the first block.
_EPILOGUE = r"""
    if (run_c) {
        if (run_v < %(hot)d) atomicAdd(&local[run_v], (unsigned)run_c); else atomicAdd(&out[run_v], run_c);
    }
    if (blockIdx.x == 0) {
        for (long long i = (n4 << 2) + threadIdx.x; i < n; i += blockDim.x) {
            int v = ids[i];
            if (v < 0 || v >= vocab) v = vocab;
            if (v < %(hot)d) atomicAdd(&local[v], 1u);
            else atomicAdd(&out[v], 1ull);
        }
    }
"""


# Variants measured by benchmarks/bench_entropy.py: QUADS int4 loads issued per iteration before
# any counting (more loads in flight), and how equal ids of a warp are merged — AGG 1 merges every
# id with __match_any_sync, AGG 2 only ids in the shared-memory range (a cold id rarely meets its
# twin in a warp), AGG 0 not at all (shared-memory atomics are cheap on recent GPUs).
_SOURCE_TUNED = r"""
extern "C" __global__ void token_histogram_tuned(const int* __restrict__ ids, long long n,
                                                 unsigned long long* __restrict__ out, int vocab) {
    __shared__ unsigned int local[%(hot)d];
    for (int i = threadIdx.x; i < %(hot)d; i += blockDim.x) local[i] = 0u;
    __syncthreads();
    const unsigned lane = threadIdx.x & 31u;
    const long long n4 = n >> 2;
    const int4* __restrict__ quads = reinterpret_cast<const int4*>(ids);
    const long long stride = (long long)gridDim.x * blockDim.x * %(quads)d;
    int run_v = -1;                 /* AGG 3: this lane's run of one id, counted in registers */
    unsigned long long run_c = 0;
    for (long long base = ((long long)blockIdx.x * blockDim.x) * %(quads)d; base < n4; base += stride) {
        int4 q[%(quads)d];
        bool ok[%(quads)d];
        #pragma unroll
        for (int u = 0; u < %(quads)d; ++u) {
            long long i = base + (long long)u * blockDim.x + threadIdx.x;
            ok[u] = i < n4;
            q[u] = ok[u] ? quads[i] : make_int4(0, 0, 0, 0);
        }
        #pragma unroll
        for (int u = 0; u < %(quads)d; ++u) {
            unsigned active = __ballot_sync(0xffffffffu, ok[u]);
            if (!ok[u]) continue;
            int vals[4] = {q[u].x, q[u].y, q[u].z, q[u].w};
            #pragma unroll
            for (int k = 0; k < 4; ++k) {
                int v = vals[k];
                if (v < 0 || v >= vocab) v = vocab;
                #if %(agg)d == 0
                if (v < %(hot)d) atomicAdd(&local[v], 1u); else atomicAdd(&out[v], 1ull);
                #elif %(agg)d == 1
                unsigned peers = __match_any_sync(active, v);
                if ((int)lane == __ffs(peers) - 1) {
                    unsigned count = __popc(peers);
                    if (v < %(hot)d) atomicAdd(&local[v], count); else atomicAdd(&out[v], (unsigned long long)count);
                }
                #elif %(agg)d == 3
                int first = __shfl_sync(active, v, __ffs(active) - 1);
                if (__all_sync(active, v == first)) {  /* a warp of one id (a degenerate stream) */
                    if ((int)lane == __ffs(active) - 1) {  /* the leader keeps a run in registers */
                        if (v != run_v) {
                            if (run_c) { if (run_v < %(hot)d) atomicAdd(&local[run_v], (unsigned)run_c); else atomicAdd(&out[run_v], run_c); }
                            run_v = v;
                            run_c = 0;
                        }
                        run_c += __popc(active);
                    }
                } else if (v < %(hot)d) {
                    atomicAdd(&local[v], 1u);
                } else {
                    atomicAdd(&out[v], 1ull);
                }
                #else
                unsigned hot = __ballot_sync(active, v < %(hot)d);
                if (v < %(hot)d) {
                    unsigned peers = __match_any_sync(hot, v);
                    if ((int)lane == __ffs(peers) - 1) atomicAdd(&local[v], (unsigned)__popc(peers));
                } else {
                    atomicAdd(&out[v], 1ull);
                }
                #endif
            }
        }
    }
%(epilogue)s    __syncthreads();
    for (int i = threadIdx.x; i < %(hot)d && i <= vocab; i += blockDim.x) {
        unsigned c = local[i];
        if (c) atomicAdd(&out[i], (unsigned long long)c);
    }
}
"""


# AGG 4: the stream's hottest ids (``top``, read off a sample of it) are counted in registers, one
# compare-and-add per id and per hot id, with no memory traffic at all; a warp reduction folds them
# in at the end. What misses them goes the AGG 3 way (a warp of one id as a register run, then
# shared-memory atomics for the low ids, global ones for the rest). On a Zipf stream the top eight
# ids are half of all ids, and they are the ones whose atomics collide.
_SOURCE_REGS = r"""
extern "C" __global__ void token_histogram_regs(const int* __restrict__ ids, long long n,
                                                unsigned long long* __restrict__ out, int vocab,
                                                const long long* __restrict__ top) {
    __shared__ unsigned int local[%(hot)d];
    for (int i = threadIdx.x; i < %(hot)d; i += blockDim.x) local[i] = 0u;
    int hot_id[%(top)d];
    unsigned hot_count[%(top)d];
    #pragma unroll
    for (int t = 0; t < %(top)d; ++t) { hot_id[t] = (int)top[t]; hot_count[t] = 0u; }
    __syncthreads();
    const unsigned lane = threadIdx.x & 31u;
    const long long n4 = n >> 2;
    const int4* __restrict__ quads = reinterpret_cast<const int4*>(ids);
    const long long stride = (long long)gridDim.x * blockDim.x * %(quads)d;
    int run_v = -1;
    unsigned long long run_c = 0;
    for (long long base = ((long long)blockIdx.x * blockDim.x) * %(quads)d; base < n4; base += stride) {
        int4 q[%(quads)d];
        bool ok[%(quads)d];
        #pragma unroll
        for (int u = 0; u < %(quads)d; ++u) {
            long long i = base + (long long)u * blockDim.x + threadIdx.x;
            ok[u] = i < n4;
            q[u] = ok[u] ? quads[i] : make_int4(-1, -1, -1, -1);
        }
        #pragma unroll
        for (int u = 0; u < %(quads)d; ++u) {
            int vals[4] = {q[u].x, q[u].y, q[u].z, q[u].w};
            #pragma unroll
            for (int k = 0; k < 4; ++k) {
                int v = vals[k];
                if (v < 0 || v >= vocab) v = vocab;
                bool hit = false;
                #pragma unroll
                for (int t = 0; t < %(top)d; ++t) { bool h = ok[u] && v == hot_id[t]; hot_count[t] += h; hit |= h; }
                unsigned miss = __ballot_sync(0xffffffffu, ok[u] && !hit);
                if (!ok[u] || hit) continue;
                int first = __shfl_sync(miss, v, __ffs(miss) - 1);
                if (__all_sync(miss, v == first)) {
                    if ((int)lane == __ffs(miss) - 1) {
                        if (v != run_v) {
                            if (run_c) { if (run_v < %(hot)d) atomicAdd(&local[run_v], (unsigned)run_c); else atomicAdd(&out[run_v], run_c); }
                            run_v = v;
                            run_c = 0;
                        }
                        run_c += __popc(miss);
                    }
                } else if (v < %(hot)d) {
                    atomicAdd(&local[v], 1u);
                } else {
                    atomicAdd(&out[v], 1ull);
                }
            }
        }
    }
%(epilogue)s    #pragma unroll
    for (int t = 0; t < %(top)d; ++t) {
        unsigned long long c = hot_count[t];
        #pragma unroll
        for (int off = 16; off > 0; off >>= 1) c += __shfl_down_sync(0xffffffffu, c, off);
        if (lane == 0u && c) {
            int v = hot_id[t];
            if (v >= 0 && v < %(hot)d) atomicAdd(&local[v], (unsigned)c); else atomicAdd(&out[v < 0 ? vocab : v], c);
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < %(hot)d && i <= vocab; i += blockDim.x) {
        unsigned c = local[i];
        if (c) atomicAdd(&out[i], (unsigned long long)c);
    }
}
"""


# Measured on an H200, 3·10⁸ resident ids, against torch.sum over the same ids (which itself reads
# at ~750 GB/s): plain shared-memory atomics with 16-byte loads 2.5× on Zipf ids, 4.0× on a
# GPT-2-like stream (one id 41%), but 0.01× on the incident's stream (one id 99.99%: every thread
# on one counter); merging every warp's equal ids (__match_any_sync, the first design) 0.8× / 1.25×
# / 0.20×; merging only warps of one id, counted in a register run, 2.4× / 3.6× / 1.24× (uniform
# ids: 0.53× for all three). Degenerate streams are what this harness exists to read: runs win.
DEFAULT_TUNING = (1, 3)
REGISTER_IDS = 8  # hot ids counted in registers by AGG 4


@lru_cache(maxsize=16)
def _kernel_tuned(quads: int, agg: int):
    import cupy

    return cupy.RawKernel(_SOURCE_TUNED % {"hot": HOT, "quads": quads, "agg": agg, "epilogue": _EPILOGUE % {"hot": HOT}}, "token_histogram_tuned")


@lru_cache(maxsize=16)
def _kernel_regs(quads: int, top: int):
    import cupy

    return cupy.RawKernel(_SOURCE_REGS % {"hot": HOT, "quads": quads, "top": top, "epilogue": _EPILOGUE % {"hot": HOT}}, "token_histogram_regs")


SAMPLE = 1 << 16  # ids read to pick the register-counted hot ids (AGG 4)


def hottest_ids(ids_tensor, vocab_size: int, top: int):
    """The ``top`` most frequent ids of the first ``SAMPLE`` ids (out-of-vocab ids as ``vocab_size``),
    as an int64 tensor on the device; computed on the stream, never waited for on the host."""
    import torch

    sample = ids_tensor[:SAMPLE]
    sample = torch.where((sample < 0) | (sample >= vocab_size), vocab_size, sample)
    counts = torch.bincount(sample, minlength=vocab_size + 1)
    return torch.topk(counts, min(top, vocab_size + 1)).indices.contiguous()


@lru_cache(maxsize=1)
def _kernel():
    import cupy

    return cupy.RawKernel(_SOURCE % {"hot": HOT}, "token_histogram")


def available() -> bool:
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False
    try:
        _kernel()
    except Exception:
        return False
    return True


def bincount_cuda(ids_tensor, vocab_size: int, out=None, vector: bool | None = None, blocks_per_sm: int = 4, tuned: tuple[int, int] | None = None):
    """Counts of a resident int32 CUDA tensor into ``out`` (``vocab_size + 1`` uint64 counters as an
    int64 tensor; the last counts every id outside [0, vocab_size)). ``vector`` (default: when the
    data is 16-byte aligned) reads four ids per load with the ``tuned`` variant (default
    ``DEFAULT_TUNING``); otherwise the scalar kernel, one id per load."""
    import cupy
    import torch

    if out is None:
        out = torch.zeros(vocab_size + 1, dtype=torch.int64, device=ids_tensor.device)
    n = ids_tensor.numel()
    if n == 0:
        return out
    ids_tensor = ids_tensor.contiguous()
    if vector is None:
        vector = ids_tensor.data_ptr() % 16 == 0
    threads = 512
    sms = torch.cuda.get_device_properties(ids_tensor.device).multi_processor_count
    work = (n // 4 if vector else n) or 1
    blocks = max(1, min(sms * blocks_per_sm, (work + threads - 1) // threads))
    torch_stream = torch.cuda.current_stream(ids_tensor.device)
    try:
        stream = cupy.cuda.Stream.from_external(torch_stream)
    except (AttributeError, TypeError, ValueError):  # older CuPy, or a torch stream without the protocol
        stream = cupy.cuda.ExternalStream(torch_stream.cuda_stream)
    args = [cupy.asarray(ids_tensor), cupy.int64(n), cupy.asarray(out).view(cupy.uint64), cupy.int32(vocab_size)]
    if vector:  # 16-byte loads need 16-byte alignment; the scalar kernel reads anything
        tuned = tuned or DEFAULT_TUNING
        quads, agg = tuned[0], tuned[1]
        if agg == 4:
            top = tuned[2] if len(tuned) > 2 else REGISTER_IDS
            hot = hottest_ids(ids_tensor, vocab_size, top)
            kernel = _kernel_regs(quads, int(hot.numel()))
            args.append(cupy.asarray(hot))
        else:
            kernel = _kernel_tuned(quads, agg)
        blocks = max(1, min(sms * blocks_per_sm, (work + threads * quads - 1) // (threads * quads)))
    else:
        kernel = _kernel()
    with stream:
        kernel((blocks,), (threads,), tuple(args))
    return out
