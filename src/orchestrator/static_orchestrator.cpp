#include "orchestrator/static_orchestrator.hpp"

#include "net/resolver.hpp"

namespace orchestrator {

runtime::task<std::expected<net::endpoint, spawn_failure>>
static_orchestrator::spawn(spawn_request request) {
    const std::string& name = request.name;
    std::expected<net::endpoint, std::string> where = net::endpoint::parse_numeric(name);
    if (!where && (allow_names_ || configured_.contains(name))) {
        where = co_await net::resolve(name, resolve_timeout);
    }
    if (!where) {
        co_return std::unexpected(
            spawn_failure{400, "<Error> '" + name + "' is not HOST:PORT: " + where.error()});
    }
    co_return *where;
}

} // namespace orchestrator
