#include "balancer/upstream_pool.hpp"

#include <algorithm>

namespace balancer {

std::optional<net::client_connection> upstream_pool::take(std::string_view key) {
    auto found = idle_.find(key);
    if (found == idle_.end() || found->second.empty()) {
        return std::nullopt;
    }
    net::client_connection connection = std::move(found->second.back());
    found->second.pop_back();
    return connection;
}

void upstream_pool::give_back(std::string_view key, net::client_connection connection) {
    if (!connection.reusable()) {
        return; // closed by its destructor: nothing is pending on it
    }
    auto found = idle_.find(key);
    if (found == idle_.end()) {
        found = idle_.emplace(std::string(key), std::vector<net::client_connection>{}).first;
    }
    if (found->second.size() < max_idle_) {
        found->second.push_back(std::move(connection));
    }
}

void upstream_pool::retain_only(const routing_table& table) {
    std::erase_if(idle_, [&table](const auto& entry) {
        return std::none_of(
            table.targets.begin(), table.targets.end(),
            [&entry](const upstream_target& t) { return t.pool_key == entry.first; });
    });
}

} // namespace balancer
