#pragma once
// swarm_api: the Docker Swarm calls of the swarm backend (services, tasks, the node's
// role), on top of docker_api's connection to a manager's Engine API. The bodies are built
// and the answers read by pure functions, which the unit tests drive with the engine's own
// JSON. Control thread only.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/docker_api.hpp"

namespace orchestrator {

struct service_spec {
    std::string name; // service name, task hostname and network alias
    std::string image;
    std::string network; // an attachable overlay network
    std::vector<std::string> environment;
    std::map<std::string, std::string> labels; // on the service
    // A custom seccomp profile (JSON text), sent only to engines whose service API takes one
    // (1.44 and later); empty: the engine's default.
    std::string seccomp_profile;
};

struct swarm_service {
    std::string id;
    std::string name;
    std::map<std::string, std::string> labels;
    std::string created_at; // RFC 3339, as the engine wrote it
};

struct swarm_task {
    std::string id;
    std::string service_id;
    std::string node_id;
    std::string state;         // Status.State: new ... running, failed, shutdown, ...
    std::string desired_state; // running, shutdown, ...
    std::string created_at;
    std::string error;   // Status.Err, when the engine gave one
    std::string address; // on the requested network, without its prefix length; "" if none
};

// The engine's API version from which a service spec carries Privileges.Seccomp.
inline constexpr std::pair<int, int> seccomp_api_version{1, 44};

// The body of POST /services/create: one replicated task, DNS round robin (no VIP: no IP_VS
// needed), restarted by Swarm whenever it stops, spread over the nodes.
std::string service_create_body(const service_spec& spec, bool with_seccomp);
docker_result<std::vector<swarm_service>> parse_services(std::string_view body);
docker_result<std::vector<swarm_task>> parse_tasks(std::string_view body,
                                                   const std::string& network);
// Orders two RFC 3339 times of the engine (whose fractions differ in length); true if a < b.
bool earlier(std::string_view a, std::string_view b);

class swarm_api {
public:
    explicit swarm_api(docker_api& engine) : engine_(engine) {}

    // GET /info: an error unless this engine is an active manager of a swarm.
    runtime::task<docker_result<void>> check_manager();
    // Creates the service and returns its ID (409: the name is taken).
    runtime::task<docker_result<std::string>> create_service(const service_spec& spec);
    // Removes a service by ID (gone already: fine).
    runtime::task<docker_result<void>> remove_service(const std::string& id);
    // Services carrying every label in `labels` (key=value).
    runtime::task<docker_result<std::vector<swarm_service>>>
    services(const std::vector<std::string>& labels);
    // The tasks Swarm wants running for these services (by ID), with their address on
    // `network`.
    runtime::task<docker_result<std::vector<swarm_task>>>
    tasks(const std::vector<std::string>& service_ids, const std::string& network);

private:
    docker_api& engine_;
};

} // namespace orchestrator
