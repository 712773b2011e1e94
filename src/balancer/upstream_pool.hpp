#pragma once
// upstream_pool: a worker's idle keep-alive connections to its upstreams, per address, at
// most `max_idle` each. Owned by one worker thread (DESIGN: pools are per worker), so no
// lock. Connections to addresses no longer routed are dropped when a new routing table
// arrives.

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "balancer/routing_table.hpp"
#include "net/http_client.hpp"

namespace balancer {

class upstream_pool {
public:
    explicit upstream_pool(std::size_t max_idle = 64) : max_idle_(max_idle) {}

    // An idle connection to `key`, newest first (the most likely to be still open).
    std::optional<net::client_connection> take(std::string_view key);
    // Keeps `connection` for reuse if it is reusable and there is room; else closes it.
    void give_back(std::string_view key, net::client_connection connection);
    // Drops idle connections to addresses that `table` no longer routes to.
    void retain_only(const routing_table& table);

private:
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view text) const noexcept {
            return std::hash<std::string_view>{}(text);
        }
    };
    std::size_t max_idle_;
    std::unordered_map<std::string, std::vector<net::client_connection>, string_hash,
                       std::equal_to<>>
        idle_;
};

} // namespace balancer
