#include "hashing/maglev_table.hpp"

#include "hashing/hash_range.hpp"

#include <algorithm>
#include <cassert>
#include <numeric>
#include <xxhash.h>

namespace hashing {

std::uint32_t maglev_table::slot_of(std::uint64_t hash) const noexcept {
    return reduce_range(hash, static_cast<std::uint32_t>(entries_.size()));
}

maglev_table::maglev_table(std::span<const replica_info> replicas, std::uint32_t table_size)
    : entries_(table_size, UINT32_MAX) {
    const std::size_t n = replicas.size();
    if (n == 0) {
        return;
    }
    assert(table_size >= n);
    const std::uint64_t m = table_size;

    // Populate in name order, not membership order: the paper's round robin favours whoever
    // goes first, and several balancers must agree on routing however they learnt the set.
    std::vector<std::uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0u);
    std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
        return replicas[a].name < replicas[b].name;
    });

    // permutation[i][j] = (offset + j * skip) mod M; M prime and 1 <= skip < M make it a full
    // permutation. Keep only the current position of each replica instead of the N x M table
    // of the paper's pseudocode: same result, N words instead of N M.
    std::vector<std::uint32_t> position(n);
    std::vector<std::uint32_t> skip(n);
    for (std::size_t k = 0; k < n; ++k) {
        const std::string& name = replicas[order[k]].name;
        position[k] = static_cast<std::uint32_t>(
            XXH3_64bits_withSeed(name.data(), name.size(), maglev_offset_seed) % m);
        skip[k] = static_cast<std::uint32_t>(
            XXH3_64bits_withSeed(name.data(), name.size(), maglev_skip_seed) % (m - 1) + 1);
    }

    // Weighted rounds: in round t a replica takes an entry while it holds fewer than
    // t w / w_max (all weights equal: one each per round, the paper's algorithm).
    std::uint64_t heaviest = 1;
    for (const replica_info& replica : replicas) {
        heaviest = std::max<std::uint64_t>(heaviest, replica.weight);
    }
    std::vector<std::uint64_t> taken(n, 0);
    std::uint64_t filled = 0;
    for (std::uint64_t round = 1;; ++round) {
        for (std::size_t k = 0; k < n; ++k) {
            if (taken[k] * heaviest >= round * replicas[order[k]].weight) {
                continue;
            }
            ++taken[k];
            std::uint32_t c = position[k];
            while (entries_[c] != UINT32_MAX) {
                c += skip[k];
                c = c >= table_size ? c - table_size : c;
            }
            entries_[c] = order[k];
            c += skip[k];
            position[k] = c >= table_size ? c - table_size : c;
            if (++filled == m) {
                return;
            }
        }
    }
}

} // namespace hashing
