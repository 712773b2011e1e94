#include "loadgen/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace loadgen {

std::size_t latency_histogram::index_of(std::uint64_t value) noexcept {
    value = std::min<std::uint64_t>(value, (std::uint64_t{1} << max_value_bits) - 1);
    if (value < exact_values) {
        return static_cast<std::size_t>(value);
    }
    // value in [2^m, 2^(m+1)), m > sub_bucket_bits: 2^sub_bucket_bits buckets of 2^shift.
    const unsigned m = static_cast<unsigned>(std::bit_width(value)) - 1;
    const unsigned shift = m - sub_bucket_bits;
    const std::uint64_t sub = (value >> shift) - sub_buckets; // [0, sub_buckets)
    return exact_values + (shift - 1) * sub_buckets + static_cast<std::size_t>(sub);
}

std::uint64_t latency_histogram::lowest_in(std::size_t index) noexcept {
    if (index < exact_values) {
        return index;
    }
    const std::size_t past = index - exact_values;
    const unsigned shift = static_cast<unsigned>(past / sub_buckets) + 1;
    const std::uint64_t sub = sub_buckets + past % sub_buckets;
    return sub << shift;
}

std::uint64_t latency_histogram::highest_in(std::size_t index) noexcept {
    if (index < exact_values) {
        return index;
    }
    const unsigned shift = static_cast<unsigned>((index - exact_values) / sub_buckets) + 1;
    return lowest_in(index) + (std::uint64_t{1} << shift) - 1;
}

void latency_histogram::record(std::uint64_t value_us) noexcept {
    ++counts_[index_of(value_us)];
    ++count_;
    max_ = std::max(max_, value_us);
    sum_ += static_cast<long double>(value_us);
}

void latency_histogram::merge(const latency_histogram& other) noexcept {
    for (std::size_t i = 0; i < bucket_count; ++i) {
        counts_[i] += other.counts_[i];
    }
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
    sum_ += other.sum_;
}

double latency_histogram::mean() const noexcept {
    return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

std::uint64_t latency_histogram::percentile(double p) const noexcept {
    if (count_ == 0) {
        return 0;
    }
    // rank = ceil(p/100 * n), 1-based (the epsilon keeps 90% of 10 at rank 9).
    const double exact = p / 100.0 * static_cast<double>(count_);
    const auto rank =
        std::clamp<std::uint64_t>(static_cast<std::uint64_t>(std::ceil(exact - 1e-9)), 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            return std::min(highest_in(i), max_);
        }
    }
    return max_;
}

} // namespace loadgen
