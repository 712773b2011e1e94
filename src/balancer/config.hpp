#pragma once
// balancer_config: everything lbd's flags decide, validated once at start-up by the main.
// Plain value; read-only after start-up, shared by every thread.

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "balancer/key_source.hpp"
#include "hashing/ring_params.hpp"
#include "net/cidr.hpp"
#include "net/endpoint.hpp"

namespace balancer {

enum class backend_kind { process, static_list, docker, swarm };

struct balancer_config {
    net::endpoint listen;
    net::endpoint admin_listen;
    bool admin_enabled = true;
    std::string admin_token;
    std::size_t replicas = 3;
    std::size_t max_replicas = 64;
    backend_kind backend = backend_kind::process;
    std::string replica_binary;
    std::vector<std::string> upstreams; // static backend
    // The weights of the initial replicas (--replica-weights) or of the --upstream entries
    // (HOST:PORT=W), in order; missing ones are 1.
    std::vector<std::uint32_t> weights;
    // /add and /rm only from clients in these networks (--control-from); empty: any.
    std::vector<net::cidr> control_from;
    // A static /add may name hosts, resolved off the control thread; else IP addresses only.
    bool allow_dns_upstreams = false;
    // Names the balancer itself answers to on the replicas' network: /add refuses them.
    std::vector<std::string> own_names;
    // --respawn-name new: a dead replica's replacement gets a new name and a new id.
    bool respawn_new_name = false;
    // --replica-id name: a replica's SERVER_ID is its name, not its integer id.
    bool replica_id_is_name = false;
    // docker and swarm backends
    std::string docker_socket = "unix:/var/run/docker.sock";
    std::string docker_network = "lbd-net";
    std::string docker_instance = "lbd";
    std::string replica_image = "lb-replica:latest";
    std::string replica_seccomp;               // a seccomp profile file for replica containers
    std::string replica_seccomp_host_path;     // its path on the engine's host (Podman)
    std::chrono::milliseconds swarm_poll{250}; // swarm: services and tasks read this often
    hashing::ring_params ring{};
    key_source key{};
    std::size_t threads = 1;
    std::chrono::milliseconds heartbeat{500};
    int fall = 2;
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds response_timeout{10'000};
    std::chrono::milliseconds startup_timeout{10'000};
    std::chrono::milliseconds header_timeout{10'000};
    std::chrono::milliseconds idle_timeout{60'000};
    std::chrono::milliseconds linger_timeout{2'000};
    // A request body's deadline: body_timeout plus a second per body_min_rate bytes.
    std::chrono::milliseconds body_timeout{30'000};
    std::uint64_t body_min_rate = 64 * 1024;
    // Largest proxied request body (--max-body); the maximum means no limit.
    std::uint64_t proxy_body_limit = std::numeric_limits<std::uint64_t>::max();
    // Budgets (docs/design.md, "Budgets and admission control"); process-wide figures,
    // each worker gets its share. 0: no limit.
    std::size_t max_connections = 0;
    std::size_t max_in_flight_per_replica = 0;
    std::size_t max_queued_per_replica = 1024;
    std::chrono::milliseconds queue_timeout{1000};
    std::size_t max_upstream_connections = 0; // per replica and worker
    // Idle keep-alive connections a worker keeps per upstream: above the number of client
    // connections a worker sends to one replica at once, or it reconnects under load.
    std::size_t upstream_idle = 1024;
    // Shorter than common servers' keep-alive (Node's 5 s), so lbd closes first.
    std::chrono::milliseconds upstream_idle_timeout{4000};
    std::chrono::milliseconds drain_timeout{10'000};
    // An upgraded connection (WebSocket) through which nothing moved for this long closes.
    std::chrono::milliseconds tunnel_idle_timeout{3'600'000};
    // Receive buffers per worker, for client and for upstream connections.
    unsigned client_buffers = 512;
    unsigned upstream_buffers = 512;
    // A worker waiting for I/O under load wakes with a batch of completions, at most this
    // late (runtime::reactor_options::batch_wait); 0 wakes it for each.
    std::chrono::microseconds batch_wait{20};
};

} // namespace balancer
