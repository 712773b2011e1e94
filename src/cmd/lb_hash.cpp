// lb-hash: the consistent-hashing lab (experiment A-4, offline half). Parses flags, runs
// hashing::run_distribution_lab and prints its rows as a table or JSON; nothing else.

#include "cmd/flags.hpp"
#include "hashing/distribution_lab.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace {

constexpr const char* usage = R"(usage: lb-hash [options]

Simulates routing R requests over N = min..max replicas (Server1..ServerN, ids 1..N) and
prints, for each algorithm and N: requests per replica, max/mean, standard deviation, and
the fraction of keys that change replica when Server<N+1> joins, when Server1 leaves (the
table is rebuilt without it) and when Server1 is down (skipped at pick time, the table
kept), each next to its optimum (1/(N+1), and Server1's own share). With --weights, each
replica's share of the keys next to its weight's share.

  --hash NAME          spec | ring | ketama | maglev | rendezvous | bounded | all
                       (default maglev; all compares every algorithm)
  --slots M            spec, ring: slots on the ring (default 512)
  --vnodes K           spec, ring: virtual servers per replica (default 9)
  --probe MODE         spec: linear | quadratic collision probing (default linear)
  --points P           ketama, bounded: points per replica and unit of weight (default 500)
  --table-size M       maglev: lookup table size, a prime (default 65537)
  --load-factor C      bounded: a replica takes at most ceil(C x average) (default 1.25);
                       every simulated request stays in flight
  --requests R         requests to simulate (default 10000)
  --keys KIND          ids: random 6-digit request ids | strings: random 16-character
                       keys (default ids)
  --seed S             seed of the key generator (default 1); same seed, same keys
  --min-replicas N     smallest N (default 2)
  --max-replicas N     largest N (default 6)
  --weights W1,W2,...  weights of Server1, Server2, ... (1 to 1000; 1 for those not
                       listed; default all 1)
  --json               print JSON instead of a table
  --help               print this text

Exit status: 0 on success, 2 on a bad flag or parameter (message on stderr).
)";

// Appends pieces one by one. NOTE: g++ 12 at -O3 reports a false -Wrestrict on
// `"literal" + std::string` (GCC bug 105329), which -Werror turns into a build failure.
std::string concat(std::initializer_list<std::string_view> pieces) {
    std::string out;
    for (std::string_view piece : pieces) {
        out.append(piece);
    }
    return out;
}

int fail(const std::string& message) {
    std::fprintf(stderr, "lb-hash: %s\ntry 'lb-hash --help'\n", message.c_str());
    return 2;
}

void print_table(const hashing::lab_config& config, const std::vector<hashing::lab_row>& rows) {
    const hashing::ring_params& p = config.params;
    std::printf("# %zu requests, keys %s, seed %llu; slots %u, vnodes %u, probe %s, points %u, "
                "table-size %u, load-factor %.2f\n",
                config.requests, std::string(hashing::to_string(config.keys)).c_str(),
                static_cast<unsigned long long>(config.seed), p.slots, p.vnodes,
                std::string(hashing::to_string(p.probe)).c_str(), p.points, p.table_size,
                p.load_factor);
    std::printf("%-10s %3s  %-42s %8s %9s  %-15s %-16s %-15s\n", "algorithm", "N",
                "requests per replica", "max/mean", "stddev", "join: moved/opt", "leave: moved/opt",
                "down: moved/opt");
    for (const hashing::lab_row& row : rows) {
        std::string counts;
        for (std::uint64_t c : row.counts) {
            counts.append(counts.empty() ? "" : " ").append(std::to_string(c));
        }
        std::printf("%-10s %3u  %-42s %8.3f %9.1f  %.3f/%.3f      %.3f/%.3f      %.3f/%.3f\n",
                    std::string(hashing::to_string(row.algorithm)).c_str(), row.replicas,
                    counts.c_str(), row.max_over_mean, row.stddev, row.moved_on_join,
                    row.optimal_join, row.moved_on_leave, row.optimal_leave, row.moved_on_down,
                    row.optimal_leave);
        if (!config.weights.empty()) {
            std::string shares;
            for (std::size_t r = 0; r < row.shares.size(); ++r) {
                char piece[64];
                std::snprintf(piece, sizeof piece, "%sServer%zu %.4f (weight %.4f)",
                              r == 0 ? "" : ", ", r + 1, row.shares[r], row.weight_shares[r]);
                shares += piece;
            }
            std::printf("%16s shares: %s\n", "", shares.c_str());
        }
    }
}

// Every string printed is a fixed name from the hashing module, so no escaping is needed.
void print_json(const hashing::lab_config& config, const std::vector<hashing::lab_row>& rows) {
    const hashing::ring_params& p = config.params;
    std::printf("{\"requests\": %zu, \"keys\": \"%s\", \"seed\": %llu, \"params\": {\"slots\": %u, "
                "\"vnodes\": %u, \"probe\": \"%s\", \"points\": %u, \"table_size\": %u, "
                "\"load_factor\": %.17g}, \"results\": [",
                config.requests, std::string(hashing::to_string(config.keys)).c_str(),
                static_cast<unsigned long long>(config.seed), p.slots, p.vnodes,
                std::string(hashing::to_string(p.probe)).c_str(), p.points, p.table_size,
                p.load_factor);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const hashing::lab_row& row = rows[i];
        std::string counts;
        for (std::uint64_t c : row.counts) {
            counts.append(counts.empty() ? "" : ", ").append(std::to_string(c));
        }
        const auto list = [](const std::vector<double>& values) {
            std::string out;
            char number[32];
            for (double v : values) {
                std::snprintf(number, sizeof number, "%s%.17g", out.empty() ? "" : ", ", v);
                out += number;
            }
            return out;
        };
        std::printf("%s\n  {\"algorithm\": \"%s\", \"replicas\": %u, \"counts\": [%s], "
                    "\"mean\": %.17g, \"max\": %llu, \"max_over_mean\": %.17g, \"stddev\": %.17g, "
                    "\"moved_on_join\": %.17g, \"optimal_join\": %.17g, "
                    "\"moved_on_leave\": %.17g, \"optimal_leave\": %.17g, "
                    "\"moved_on_down\": %.17g, \"optimal_down\": %.17g, \"shares\": [%s], "
                    "\"weight_shares\": [%s]}",
                    i == 0 ? "" : ",", std::string(hashing::to_string(row.algorithm)).c_str(),
                    row.replicas, counts.c_str(), row.mean,
                    static_cast<unsigned long long>(row.max), row.max_over_mean, row.stddev,
                    row.moved_on_join, row.optimal_join, row.moved_on_leave, row.optimal_leave,
                    row.moved_on_down, row.optimal_leave, list(row.shares).c_str(),
                    list(row.weight_shares).c_str());
    }
    std::printf("\n]}\n");
}

} // namespace

int main(int argc, char** argv) {
    hashing::lab_config config;
    bool json = false;
    cmd::flag_reader flags(argc, argv);
    while (!flags.done()) {
        const std::string name = flags.next_name();
        if (name == "help" || name == "h") {
            std::fputs(usage, stdout);
            return 0;
        }
        if (name == "json") {
            json = true;
            continue;
        }
        if (name.empty()) {
            return fail("unexpected argument (flags start with --)");
        }
        static const std::vector<std::string> with_value{
            "hash",         "slots",        "vnodes",   "probe", "points",
            "table-size",   "load-factor",  "requests", "keys",  "seed",
            "min-replicas", "max-replicas", "weights"};
        if (std::find(with_value.begin(), with_value.end(), name) == with_value.end()) {
            return fail(concat({"unknown flag --", name}));
        }
        const std::optional<std::string> value = flags.value();
        if (!value) {
            return fail(concat({"--", name, " needs a value"}));
        }
        auto number = [&](long low, long high) { return cmd::parse_number(*value, low, high); };
        auto bad_number = [&](long low, long high) {
            return fail(concat({"--", name, " must be a whole number from ", std::to_string(low),
                                " to ", std::to_string(high), ", not '", *value, "'"}));
        };
        if (name == "hash") {
            if (*value == "all") {
                const auto all = hashing::all_algorithms();
                config.algorithms.assign(all.begin(), all.end());
            } else if (auto kind = hashing::parse_algorithm(*value)) {
                config.algorithms = {*kind};
            } else {
                return fail(concat({kind.error().message, " or all"}));
            }
        } else if (name == "probe") {
            auto probe = hashing::parse_probe(*value);
            if (!probe) {
                return fail(probe.error().message);
            }
            config.params.probe = *probe;
        } else if (name == "keys") {
            auto keys = hashing::parse_key_source(*value);
            if (!keys) {
                return fail(keys.error().message);
            }
            config.keys = *keys;
        } else if (name == "load-factor") {
            char* end = nullptr;
            const double c = std::strtod(value->c_str(), &end);
            if (value->empty() || *end != '\0' || !(c >= 1.0 && c <= 100.0)) {
                return fail(concat(
                    {"--load-factor must be a number from 1.0 to 100.0, not '", *value, "'"}));
            }
            config.params.load_factor = c;
        } else if (name == "weights") {
            config.weights.clear();
            std::string_view rest = *value;
            while (!rest.empty()) {
                const auto comma = rest.find(',');
                auto weight = cmd::parse_number(rest.substr(0, comma), 1, hashing::max_weight);
                if (!weight) {
                    return fail(concat({"--weights takes numbers from 1 to 1000 separated by "
                                        "commas, not '",
                                        *value, "'"}));
                }
                config.weights.push_back(static_cast<std::uint32_t>(*weight));
                rest =
                    comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
            }
        } else if (name == "seed") {
            auto seed = number(0, std::numeric_limits<long>::max());
            if (!seed) {
                return bad_number(0, std::numeric_limits<long>::max());
            }
            config.seed = static_cast<std::uint64_t>(*seed);
        } else {
            struct bounds {
                long low;
                long high;
            };
            const bounds b = name == "requests"       ? bounds{1, 100000000}
                             : name == "min-replicas" ? bounds{1, 10000}
                             : name == "max-replicas" ? bounds{1, 10000}
                             : name == "points"       ? bounds{1, 100000}
                                                      : bounds{1, 16777216};
            auto n = number(b.low, b.high);
            if (!n) {
                return bad_number(b.low, b.high);
            }
            const auto v = static_cast<std::uint32_t>(*n);
            if (name == "requests") {
                config.requests = static_cast<std::size_t>(*n);
            } else if (name == "min-replicas") {
                config.min_replicas = v;
            } else if (name == "max-replicas") {
                config.max_replicas = v;
            } else if (name == "slots") {
                config.params.slots = v;
            } else if (name == "vnodes") {
                config.params.vnodes = v;
            } else if (name == "points") {
                config.params.points = v;
            } else {
                config.params.table_size = v;
            }
        }
    }
    if (auto valid = hashing::validate(config.params); !valid) {
        return fail(valid.error().message);
    }
    if (config.min_replicas > config.max_replicas) {
        return fail("--min-replicas must not exceed --max-replicas");
    }
    auto rows = hashing::run_distribution_lab(config);
    if (!rows) {
        return fail(rows.error().message);
    }
    if (json) {
        print_json(config, *rows);
    } else {
        print_table(config, *rows);
    }
    return 0;
}
