#pragma once
// The control API's rules, as pure functions: validation of /add and /rm payloads against
// the current replica names, with the exact messages of the README, and rendering of the
// /rep answer. No I/O and no threads: the control thread calls these, tests call them
// directly. Allocates the returned plans and strings.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "json/control_payload.hpp"

namespace balancer {

struct api_error {
    int status = 400;
    std::string message; // "<Error> ..."
};

struct add_plan {
    std::vector<std::string> names;     // given names first, then generated ones
    std::vector<std::uint32_t> weights; // one per name (1 unless given)
};

struct remove_plan {
    std::vector<std::string> names; // given names first, then chosen ones
};

struct naming_rules {
    // Process and docker backends: container names, [A-Za-z0-9][A-Za-z0-9_.-]*.
    // Static backend: HOST:PORT, where HOST is an IP address unless `host_names`.
    bool host_port = false;
    bool host_names = false;
    std::size_t max_replicas = 64;
    std::vector<std::string> busy;      // names of replicas still on their way in or out
    std::vector<std::string> own_names; // the balancer's own names on the replicas' network
};

// True for a valid container name: [A-Za-z0-9][A-Za-z0-9_.-]*, at most 63 characters.
bool valid_replica_name(std::string_view name);

// Validates a /add payload (`body_empty` means no body at all: n = 1) against the names
// in use (`current`, the members, and the rules' busy and own names), and picks the
// generated names with `generate_name` (called with 1, 2, ... until it returns a free
// name). Weights are given in the order of the names. Returns the plan or the 400.
std::variant<add_plan, api_error>
plan_add(const json::control_payload_result& parsed, bool body_empty,
         std::span<const std::string> current, const naming_rules& rules,
         const std::function<std::string(std::uint64_t)>& generate_name);

// Validates a /rm payload; the names not given are drawn with `pick(count)`, which returns
// an index in [0, count).
std::variant<remove_plan, api_error>
plan_remove(const json::control_payload_result& parsed, bool body_empty,
            std::span<const std::string> current,
            const std::function<std::size_t(std::size_t)>& pick);

// {"message": {"N": 3, "replicas": ["Server1", ...]}, "status": "successful"}
std::string render_replicas(std::span<const std::string> names);

} // namespace balancer
