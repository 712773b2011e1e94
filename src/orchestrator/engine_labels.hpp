#pragma once
// What the docker and swarm backends share: their common options, the labels that mark
// lbd's replicas (and which lbd instance they belong to) on containers and services, and
// how /add answers an engine's failure.

#include <string>
#include <string_view>
#include <vector>

#include "net/endpoint.hpp"
#include "orchestrator/docker_api.hpp"
#include "orchestrator/orchestrator.hpp"

namespace orchestrator {

// An Engine API to talk to (a manager's, for swarm) and what the replicas it makes run.
struct engine_options {
    net::endpoint socket;
    std::string image = "lb-replica:latest";
    std::string network = "lbd-net";
    std::string instance = "lbd";
    std::string seccomp_profile; // JSON text for the replicas; empty: the engine's default
    int replica_port = 5000;
    server_id_kind server_id = server_id_kind::number;
};

inline constexpr const char* label_managed = "lbd.managed";
inline constexpr const char* label_instance = "lbd.instance";
inline constexpr const char* label_name = "lbd.name";
inline constexpr const char* label_id = "lbd.id";
inline constexpr const char* label_weight = "lbd.weight";
// Swarm: a random value per service create, by which a create that got no answer finds
// what it made.
inline constexpr const char* label_spawn = "lbd.spawn";

// The label filter (key=value) of one lbd instance's replicas.
inline std::vector<std::string> instance_labels(const std::string& instance) {
    return {std::string(label_managed) + "=true", std::string(label_instance) + "=" + instance};
}

// 503 when the engine is unreachable, its 409 for a name taken, 500 for the rest (a
// missing image is a configuration error); `engine` names it in the message.
inline spawn_failure engine_failure(const docker_error& error, std::string_view engine) {
    if (error.status == 0) {
        return {503, "<Error> " + error.message};
    }
    if (error.status == 409) {
        return {409, "<Error> " + error.message};
    }
    return {500, "<Error> " + std::string(engine) + ": " + error.message};
}

} // namespace orchestrator
