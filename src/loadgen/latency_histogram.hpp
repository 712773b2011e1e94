#pragma once
// latency_histogram: latencies in microseconds, counted in log-linear buckets as an
// HdrHistogram does: exact below 256 µs, then 128 sub-buckets per power of two, so any
// percentile is within 1/128 (0.8%) of the true value, from 1 µs to 2^40 µs (12 days).
// Fixed size (about 36 KiB of counters), no allocation per value; one per runner thread,
// merged at the end. (Debian packages HdrHistogram only for Java and Go.) Any thread.

#include <array>
#include <cstdint>

namespace loadgen {

class latency_histogram {
public:
    static constexpr unsigned sub_bucket_bits = 7;
    static constexpr unsigned max_value_bits = 40;

    void record(std::uint64_t value_us) noexcept;
    void merge(const latency_histogram& other) noexcept;

    std::uint64_t count() const noexcept { return count_; }
    std::uint64_t max() const noexcept { return max_; }
    double mean() const noexcept;
    // The smallest value with at least p% of the values at or below it (p in (0, 100]), to
    // within the bucket's width: the bucket's highest value, never above max(). 0 when empty.
    std::uint64_t percentile(double p) const noexcept;

    // The bucket a value falls in, and the range of values it holds (for tests).
    static std::size_t index_of(std::uint64_t value) noexcept;
    static std::uint64_t lowest_in(std::size_t index) noexcept;
    static std::uint64_t highest_in(std::size_t index) noexcept;

private:
    static constexpr std::size_t exact_values = std::size_t{1} << (sub_bucket_bits + 1);
    static constexpr std::size_t sub_buckets = std::size_t{1} << sub_bucket_bits;
    static constexpr std::size_t bucket_count =
        exact_values + (max_value_bits - sub_bucket_bits - 1) * sub_buckets;

    std::array<std::uint64_t, bucket_count> counts_{};
    std::uint64_t count_ = 0;
    std::uint64_t max_ = 0;
    long double sum_ = 0;
};

} // namespace loadgen
