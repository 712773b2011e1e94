#include "balancer/control_api.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include <sys/socket.h>

#include "hashing/membership.hpp"

#include "net/endpoint.hpp"
#include "json/json_writer.hpp"

namespace balancer {

namespace {
api_error bad(std::string message) {
    return api_error{400, std::move(message)};
}

bool contains(std::span<const std::string> names, std::string_view name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

// The checks shared by /add and /rm: n positive, hostnames a list without duplicates.
std::optional<api_error> common_checks(const json::control_payload_result& parsed, bool body_empty,
                                       std::uint64_t& n) {
    if (!parsed.ok()) {
        return bad(parsed.error);
    }
    if (!parsed.payload.n) {
        if (!body_empty) {
            return bad("<Error> 'n' is required: the number of instances");
        }
        n = 1;
    } else {
        n = *parsed.payload.n;
    }
    if (parsed.payload.hostnames) {
        std::set<std::string_view> seen;
        for (const auto& name : *parsed.payload.hostnames) {
            if (!seen.insert(name).second) {
                return bad("<Error> Hostname '" + name + "' is listed more than once");
            }
        }
    }
    return std::nullopt;
}
// Why `name` is not an acceptable static upstream, if it is not: HOST:PORT with a port,
// HOST an IP address, or (`names`) a DNS name that is resolved later, off the thread.
std::optional<std::string> host_port_error(const std::string& name, bool names) {
    if (auto where = net::endpoint::parse_numeric(name)) {
        if (where->port() == 0 || where->family() == AF_UNIX) {
            return "<Error> Hostname '" + name + "' is not a valid HOST:PORT";
        }
        return std::nullopt;
    }
    const auto colon = name.rfind(':');
    const std::string_view host = std::string_view(name).substr(0, colon);
    const bool host_ok =
        colon != std::string::npos && !host.empty() && host.size() <= 253 &&
        std::all_of(host.begin(), host.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
        });
    unsigned port = 0;
    const std::string_view port_text = std::string_view(name).substr(colon + 1);
    const auto [end, error] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (!host_ok || port_text.empty() || error != std::errc{} ||
        end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
        return "<Error> Hostname '" + name + "' is not a valid HOST:PORT";
    }
    if (!names) {
        return "<Error> Hostname '" + name +
               "' is not an IP address and port: names are resolved only with "
               "--allow-dns-upstreams";
    }
    return std::nullopt;
}
} // namespace

bool valid_replica_name(std::string_view name) {
    if (name.empty() || name.size() > 63 || !std::isalnum(static_cast<unsigned char>(name[0]))) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    });
}

std::variant<add_plan, api_error>
plan_add(const json::control_payload_result& parsed, bool body_empty,
         std::span<const std::string> current, const naming_rules& rules,
         const std::function<std::string(std::uint64_t)>& generate_name) {
    std::uint64_t n = 0;
    if (auto failed = common_checks(parsed, body_empty, n)) {
        return *failed;
    }
    const auto& given = parsed.payload.hostnames;
    if (given && given->size() > n) {
        return bad("<Error> Length of hostname list is more than newly added instances");
    }
    if (n > rules.max_replicas || current.size() + n > rules.max_replicas) {
        return bad("<Error> Cannot add " + std::to_string(n) + " instances: at most " +
                   std::to_string(rules.max_replicas) + " replicas are allowed and " +
                   std::to_string(current.size()) + " exist");
    }
    const auto& weights = parsed.payload.weights;
    if (weights && weights->size() > n) {
        return bad("<Error> Length of weights list is more than newly added instances");
    }
    add_plan plan;
    if (weights) {
        for (const std::uint64_t weight : *weights) {
            if (weight > hashing::max_weight) {
                return bad("<Error> A weight is at most " + std::to_string(hashing::max_weight));
            }
            plan.weights.push_back(static_cast<std::uint32_t>(weight));
        }
    }
    plan.weights.resize(n, 1);
    if (given) {
        for (const auto& name : *given) {
            if (rules.host_port) {
                if (auto failed = host_port_error(name, rules.host_names)) {
                    return bad(std::move(*failed));
                }
            } else if (!valid_replica_name(name)) {
                return bad("<Error> Hostname '" + name +
                           "' is not a valid name: use letters, digits, '_', '.' and '-', "
                           "starting with a letter or digit, at most 63 characters");
            }
            if (contains(rules.own_names, name)) {
                return bad("<Error> Hostname '" + name +
                           "' is the balancer's own name on the replicas' network");
            }
            if (contains(current, name) || contains(rules.busy, name)) {
                return bad("<Error> Hostname '" + name + "' is already in use");
            }
            plan.names.push_back(name);
        }
    }
    if (plan.names.size() < n && rules.host_port) {
        return bad("<Error> The static backend cannot invent servers: give a HOST:PORT "
                   "hostname for each of the " +
                   std::to_string(n) + " instances");
    }
    for (std::uint64_t k = 1; plan.names.size() < n; ++k) {
        std::string candidate = generate_name(k);
        if (!contains(current, candidate) && !contains(plan.names, candidate) &&
            !contains(rules.busy, candidate) && !contains(rules.own_names, candidate)) {
            plan.names.push_back(std::move(candidate));
        }
    }
    return plan;
}

std::variant<remove_plan, api_error>
plan_remove(const json::control_payload_result& parsed, bool body_empty,
            std::span<const std::string> current,
            const std::function<std::size_t(std::size_t)>& pick) {
    std::uint64_t n = 0;
    if (auto failed = common_checks(parsed, body_empty, n)) {
        return *failed;
    }
    const auto& given = parsed.payload.hostnames;
    if (given && given->size() > n) {
        return bad("<Error> Length of hostname list is more than removable instances");
    }
    if (n > current.size()) {
        return bad("<Error> Cannot remove " + std::to_string(n) + " instances: only " +
                   std::to_string(current.size()) + " exist");
    }
    remove_plan plan;
    if (given) {
        for (const auto& name : *given) {
            if (!contains(current, name)) {
                return bad("<Error> Hostname '" + name + "' is not a replica");
            }
            plan.names.push_back(name);
        }
    }
    std::vector<std::string> others;
    for (const auto& name : current) {
        if (!contains(plan.names, name)) {
            others.push_back(name);
        }
    }
    while (plan.names.size() < n) {
        const std::size_t index = pick(others.size());
        plan.names.push_back(others[index]);
        others.erase(others.begin() + static_cast<std::ptrdiff_t>(index));
    }
    return plan;
}

std::string render_replicas(std::span<const std::string> names) {
    std::string message;
    json::json_writer writer{message};
    writer.begin_object().key("N").value(names.size()).key("replicas").begin_array();
    for (const auto& name : names) {
        writer.value(name);
    }
    writer.end_array().end_object();
    std::string out;
    json::append_status_raw(out, message, true);
    return out;
}

} // namespace balancer
