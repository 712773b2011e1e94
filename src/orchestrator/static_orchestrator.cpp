#include "orchestrator/static_orchestrator.hpp"

namespace orchestrator {

runtime::task<std::expected<net::endpoint, spawn_failure>>
static_orchestrator::spawn(std::string name, std::uint64_t) {
    auto where = net::endpoint::parse(name);
    if (!where) {
        co_return std::unexpected(
            spawn_failure{400, "<Error> '" + name + "' is not HOST:PORT: " + where.error()});
    }
    co_return *where;
}

} // namespace orchestrator
