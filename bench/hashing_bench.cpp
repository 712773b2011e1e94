// Envoy's three consistent-hashing benchmarks for every algorithm at N = 3, 100, 1000
// (docs/design.md, "Testing and benchmarking"): choose a host (ns per lookup), build the
// ring (snapshot build time), and host-loss churn (percent of keys that moved when one host
// leaves, against the optimum: the lost host's own share).

#include "hashing/distribution_lab.hpp"
#include "hashing/ring_snapshot.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <bit>
#include <string>

namespace {

using namespace hashing;

constexpr std::int64_t sizes[] = {3, 100, 1000};

// The slotted rings need N x K <= M; past 57 replicas the default 512 slots are too few, so
// give them twice the virtual servers, rounded up to a power of two.
ring_params params_for(algorithm_kind kind, std::size_t n) {
    ring_params p;
    p.algorithm = kind;
    if (kind == algorithm_kind::spec || kind == algorithm_kind::ring) {
        p.slots = std::max<std::uint32_t>(
            512, std::bit_ceil(static_cast<std::uint32_t>(n * p.vnodes * 2)));
    }
    return p;
}

std::shared_ptr<const ring_snapshot> build(algorithm_kind kind, std::size_t n) {
    return *ring_snapshot::build(numbered_membership(static_cast<std::uint32_t>(n)),
                                 params_for(kind, n));
}

void label(benchmark::State& state, algorithm_kind kind, std::size_t n) {
    state.SetLabel(std::string(to_string(kind)) + " N=" + std::to_string(n));
}

void lookup(benchmark::State& state) {
    const auto kind = all_algorithms()[static_cast<std::size_t>(state.range(0))];
    const auto n = static_cast<std::size_t>(state.range(1));
    const auto snapshot = build(kind, n);
    // 64 Ki distinct keys: more than fit the branch predictor's memory, as real traffic.
    const auto keys = generate_keys(key_source::strings, 1 << 16, 1);
    // Even loads below the bound: `bounded` pays for checking them but walks no further.
    const std::vector<std::uint32_t> in_flight(n, 10);
    const replica_loads loads = replica_loads::of(in_flight);
    std::size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(snapshot->lookup(keys[i++ & 0xFFFF], loads));
    }
    label(state, kind, n);
}

void build_snapshot(benchmark::State& state) {
    const auto kind = all_algorithms()[static_cast<std::size_t>(state.range(0))];
    const auto n = static_cast<std::size_t>(state.range(1));
    const membership replicas = numbered_membership(static_cast<std::uint32_t>(n));
    const ring_params params = params_for(kind, n);
    for (auto _ : state) {
        benchmark::DoNotOptimize(ring_snapshot::build(replicas, params));
    }
    label(state, kind, n);
}

void host_loss_churn(benchmark::State& state) {
    const auto kind = all_algorithms()[static_cast<std::size_t>(state.range(0))];
    const auto n = static_cast<std::size_t>(state.range(1));
    const auto keys = generate_keys(key_source::strings, 100000, 2);
    double moved = 0;
    double optimal = 0;
    for (auto _ : state) {
        const auto before = build(kind, n);
        membership survivors = numbered_membership(static_cast<std::uint32_t>(n));
        survivors.erase(survivors.begin() + static_cast<std::ptrdiff_t>(n / 2));
        const auto after = *ring_snapshot::build(std::move(survivors), params_for(kind, n));
        const auto routed_before = route_keys(*before, keys);
        moved = moved_fraction(*before, routed_before, *after, route_keys(*after, keys));
        optimal =
            static_cast<double>(std::count(routed_before.begin(), routed_before.end(), n / 2)) /
            static_cast<double>(keys.size());
    }
    state.counters["percent_moved"] = 100 * moved;
    state.counters["percent_optimal"] = 100 * optimal;
    label(state, kind, n);
}

void every_algorithm_and_size(benchmark::internal::Benchmark* b) {
    for (std::size_t a = 0; a < all_algorithms().size(); ++a) {
        for (std::int64_t n : sizes) {
            b->Args({static_cast<std::int64_t>(a), n});
        }
    }
}

} // namespace

BENCHMARK(lookup)->Apply(every_algorithm_and_size);
BENCHMARK(build_snapshot)->Apply(every_algorithm_and_size)->Unit(benchmark::kMicrosecond);
BENCHMARK(host_loss_churn)
    ->Apply(every_algorithm_and_size)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
