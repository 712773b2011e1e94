#include "cmd/lbd_options.hpp"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <optional>

#include <thread>
#include <unistd.h>
#include <vector>

#include <CLI/CLI.hpp>

#include "balancer/key_source.hpp"
#include "cmd/cli_help.hpp"
#include "hashing/membership.hpp"
#include "hashing/ring_params.hpp"
#include "net/cidr.hpp"
#include "net/endpoint.hpp"

namespace cmd {

namespace {

constexpr const char* description =
    R"(lbd: an HTTP/1.1 load balancer. Routes requests to replicas by consistent hashing of
a request key and keeps its replicas alive. Serves the control API (GET /rep, POST /add,
DELETE /rm) and proxies every other path. Each option has an environment fallback.

SIGTERM or SIGINT: stop accepting, let requests in flight finish within
--drain-timeout-ms, stop the replicas, exit 0. A second signal exits at once.)";

// What the flags hold before they become a balancer_config.
struct raw_flags {
    std::string listen = "0.0.0.0:5000";
    long replicas = 3;
    std::string backend = "process";
    std::string replica_bin;
    std::vector<std::string> upstreams;
    std::vector<long> replica_weights;
    std::vector<std::string> control_from;
    std::vector<std::string> balancer_names{"lbd"};
    std::string docker_socket = "/var/run/docker.sock";
    std::string hash = "maglev";
    std::string respawn_name = "same";
    std::string replica_id = "number";
    std::string probe = "linear";
    std::string hash_key = "header:X-Request-ID";
    long threads = static_cast<long>(std::max(1U, std::thread::hardware_concurrency()));
    long heartbeat_ms = 500;
    long swarm_poll_ms = 250;
    long connect_timeout_ms = 1000;
    long response_timeout_ms = 10'000;
    long header_timeout_ms = 10'000;
    long idle_timeout_ms = 60'000;
    long linger_timeout_ms = 2'000;
    long startup_timeout_ms = 10'000;
    long body_timeout_ms = 30'000;
    long max_body = 0;
    long batch_wait_us = 0;
    long max_connections = 0;
    long queue_timeout_ms = 1000;
    long upstream_idle_timeout_ms = 4000;
    long drain_timeout_ms = 10'000;
    long tunnel_idle_timeout_ms = 3'600'000;
    long client_buffers = 512;
    long upstream_buffers = 512;
    std::string admin_listen = "127.0.0.1:9901";
};

std::string default_replica_binary(const char* argv0) {
    std::error_code error;
    auto self = std::filesystem::read_symlink("/proc/self/exe", error);
    if (error) {
        self = std::filesystem::absolute(argv0, error);
    }
    return (self.parent_path() / "lb-replica").string();
}

// --upstream HOST:PORT[=W] and --replica-weights into the config; the error, if any.
std::optional<std::string> read_membership(const raw_flags& raw,
                                           balancer::balancer_config& config) {
    const bool static_backend = config.backend == balancer::backend_kind::static_list;
    if (!static_backend && !raw.upstreams.empty()) {
        return "--upstream needs --backend static";
    }
    if (static_backend && raw.upstreams.empty()) {
        return "--backend static needs at least one --upstream HOST:PORT";
    }
    if (static_backend && !raw.replica_weights.empty()) {
        return "--replica-weights: give static upstreams their weights as --upstream HOST:PORT=W";
    }
    for (const auto& upstream : raw.upstreams) {
        const auto equals = upstream.rfind('=');
        const std::string name = upstream.substr(0, equals);
        long weight = 1;
        if (equals != std::string::npos &&
            (!CLI::detail::lexical_cast(upstream.substr(equals + 1), weight) || weight < 1 ||
             weight > static_cast<long>(hashing::max_weight))) {
            return "--upstream '" + upstream + "': the weight must be 1 to " +
                   std::to_string(hashing::max_weight);
        }
        // Names the operator chose are resolved here, once, at start-up.
        auto where = net::endpoint::parse(name);
        if (!where || where->port() == 0) {
            return "--upstream '" + upstream + "' is not HOST:PORT";
        }
        if (std::find(config.upstreams.begin(), config.upstreams.end(), name) !=
            config.upstreams.end()) {
            return "--upstream '" + name + "' is given twice";
        }
        config.upstreams.push_back(name);
        config.weights.push_back(static_cast<std::uint32_t>(weight));
    }
    if (raw.replica_weights.size() > config.replicas) {
        return "--replica-weights: " + std::to_string(raw.replica_weights.size()) +
               " weights for " + std::to_string(config.replicas) + " replicas (--replicas)";
    }
    for (const long weight : raw.replica_weights) {
        config.weights.push_back(static_cast<std::uint32_t>(weight));
    }
    return std::nullopt;
}

} // namespace

std::expected<lbd_command_line, std::string> parse_lbd_command_line(int argc, char** argv,
                                                                    std::size_t open_files) {
    lbd_command_line result;
    balancer::balancer_config& config = result.config;
    raw_flags raw;
    long max_replicas = static_cast<long>(config.max_replicas);
    long fall = config.fall;
    long upstream_idle = static_cast<long>(config.upstream_idle);
    long max_in_flight = 0;
    long max_queued = static_cast<long>(config.max_queued_per_replica);
    long max_upstream = 0;
    long body_min_rate = static_cast<long>(config.body_min_rate);
    long slots = static_cast<long>(config.ring.slots);
    long vnodes = static_cast<long>(config.ring.vnodes);
    long points = static_cast<long>(config.ring.points);
    long table_size = static_cast<long>(config.ring.table_size);
    double load_factor = config.ring.load_factor;
    // Each client connection may hold an upstream one: half the descriptors, less a
    // reserve for listeners, replicas, health checks and the Docker API.
    const long default_connections = std::max<long>(64, (static_cast<long>(open_files) - 256) / 2);

    CLI::App app{description, "lbd"};
    // A flag given twice takes its last value (a wrapper script's defaults, then the
    // user's); --upstream alone collects every one.
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.formatter(std::make_shared<help_formatter>());
    auto option = [&app](const char* name, auto& target, const char* env, const char* type,
                         const char* help) {
        return app.add_option(name, target, help)
            ->envname(env)
            ->type_name(type)
            ->capture_default_str();
    };
    // A flag that may be repeated; in the environment its values are comma-separated.
    auto list_option = [&app](const char* name, auto& target, const char* env, const char* type,
                              const char* help) {
        return app.add_option(name, target, help)
            ->envname(env)
            ->type_name(type)
            ->delimiter(',')
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    };

    option("--listen", raw.listen, "LB_LISTEN", "HOST:PORT", "where to serve");
    option("--replicas", raw.replicas, "LB_REPLICAS", "N",
           "replicas to start, 0 to --max-replicas");
    option("--backend", raw.backend, "LB_BACKEND", "KIND",
           "process (local lb-replica children), docker (containers through the Docker "
           "Engine API), swarm (Docker Swarm services, through a manager's Engine API; "
           "balancers with the same --docker-instance share them) or static (--upstream)")
        ->check(CLI::IsMember({"process", "docker", "swarm", "static"}));
    option("--replica-bin", raw.replica_bin, "LB_REPLICA_BIN", "PATH", "the replica program")
        ->default_str("lb-replica beside lbd");
    list_option("--upstream", raw.upstreams, "LB_UPSTREAMS", "HOST:PORT[=W]",
                "a static upstream with its weight (1 to 1000, default 1); repeat it "
                "(comma-separated in the environment)");
    list_option("--replica-weights", raw.replica_weights, "LB_REPLICA_WEIGHTS", "W,W,...",
                "weights of the initial replicas Server1, Server2, ... (1 to 1000; the "
                "ones not given are 1)")
        ->check(CLI::Range(1L, static_cast<long>(hashing::max_weight)));
    option("--docker-socket", raw.docker_socket, "LB_DOCKER_SOCKET", "PATH",
           "the Docker (or Podman) API socket");
    option("--docker-network", config.docker_network, "LB_DOCKER_NETWORK", "NAME",
           "network for replica containers, created if missing (swarm: an attachable "
           "overlay network lbd is attached to as well)");
    option("--docker-instance", config.docker_instance, "LB_DOCKER_INSTANCE", "NAME",
           "label value that tells this lbd's containers apart (swarm: the balancers "
           "that share replicas)");
    option("--swarm-poll-ms", raw.swarm_poll_ms, "LB_SWARM_POLL_MS", "MS",
           "swarm: how often the services and their tasks are read (and at once on a "
           "service event)")
        ->check(CLI::Range(10L, 60'000L));
    option("--replica-image", config.replica_image, "LB_REPLICA_IMAGE", "IMAGE",
           "image of replica containers");
    option("--replica-seccomp", config.replica_seccomp, "LB_REPLICA_SECCOMP", "FILE",
           "seccomp profile (JSON file) for replica containers, e.g. one that allows io_uring")
        ->default_str("the daemon's");
    option("--replica-seccomp-host-path", config.replica_seccomp_host_path,
           "LB_REPLICA_SECCOMP_HOST_PATH", "PATH",
           "Podman opens the profile itself: its path on Podman's host")
        ->default_str("the --replica-seccomp path");
    option("--respawn-name", raw.respawn_name, "LB_RESPAWN_NAME", "MODE",
           "a dead replica's replacement: same (its name and id, so its keys come home; it "
           "leaves /rep until it serves again) or new (the next free ServerK and a new id; "
           "the dead name leaves /rep at once)")
        ->check(CLI::IsMember({"same", "new"}));
    option("--replica-id", raw.replica_id, "LB_REPLICA_ID", "KIND",
           "what a replica's SERVER_ID (its /home answer) is: number (its integer id) or "
           "name (its hostname); routing uses the integer id either way")
        ->check(CLI::IsMember({"number", "name"}));
    option("--hash", raw.hash, "LB_HASH", "ALGORITHM",
           "spec, ring, ketama, maglev, rendezvous or bounded")
        ->check(CLI::IsMember({"spec", "ring", "ketama", "maglev", "rendezvous", "bounded"}));
    option("--slots", slots, "LB_SLOTS", "M", "slots of the spec and ring rings")
        ->check(CLI::Range(1L, 1L << 24));
    option("--vnodes", vnodes, "LB_VNODES", "K", "virtual servers per replica, spec and ring")
        ->check(CLI::Range(1L, 4096L));
    option("--points", points, "LB_POINTS", "P",
           "points per replica and unit of weight, ketama and bounded")
        ->check(CLI::Range(1L, 4096L));
    option("--table-size", table_size, "LB_TABLE_SIZE", "T", "maglev table size, a prime")
        ->check(CLI::Range(3L, 16777213L));
    option("--probe", raw.probe, "LB_PROBE", "MODE", "spec collisions: linear or quadratic")
        ->check(CLI::IsMember({"linear", "quadratic"}));
    option("--load-factor", load_factor, "LB_LOAD_FACTOR", "C",
           "bounded: skip replicas above ceil(C x mean)")
        ->check(CLI::Range(1.0, 100.0));
    option("--hash-key", raw.hash_key, "LB_HASH_KEY", "SOURCE",
           "header:NAME, cookie:NAME, query:NAME, path, client-ip or random (a random "
           "6-digit id when the source is absent)");
    option("--threads", raw.threads, "LB_THREADS", "N", "worker threads")
        ->check(CLI::Range(1L, 256L))
        ->default_str("the number of CPUs");
    option("--heartbeat-ms", raw.heartbeat_ms, "LB_HEARTBEAT_MS", "MS", "health check interval")
        ->check(CLI::Range(10L, 600'000L));
    option("--fall", fall, "LB_FALL", "N", "failed heartbeats in a row that take a replica out")
        ->check(CLI::Range(1L, 100L));
    option("--max-replicas", max_replicas, "LB_MAX_REPLICAS", "N", "upper limit for /add")
        ->check(CLI::Range(1L, 1024L));
    option("--connect-timeout-ms", raw.connect_timeout_ms, "LB_CONNECT_TIMEOUT_MS", "MS",
           "upstream connect timeout; then the next replica is tried")
        ->check(CLI::Range(1L, 600'000L));
    option("--response-timeout-ms", raw.response_timeout_ms, "LB_RESPONSE_TIMEOUT_MS", "MS",
           "upstream response timeout, answered 504")
        ->check(CLI::Range(1L, 3'600'000L));
    option("--startup-timeout-ms", raw.startup_timeout_ms, "LB_STARTUP_TIMEOUT_MS", "MS",
           "a new replica must pass its first heartbeat within MS (swarm: its task must run "
           "by then), else /add fails and rolls back, or lbd does not start")
        ->check(CLI::Range(100L, 600'000L));
    option("--header-timeout-ms", raw.header_timeout_ms, "LB_HEADER_TIMEOUT_MS", "MS",
           "a client's request head must arrive within MS, else 408")
        ->check(CLI::Range(1L, 3'600'000L));
    option("--idle-timeout-ms", raw.idle_timeout_ms, "LB_IDLE_TIMEOUT_MS", "MS",
           "close client connections idle for MS, and those that stall mid-body for MS (408)")
        ->check(CLI::Range(1L, 3'600'000L));
    option("--linger-timeout-ms", raw.linger_timeout_ms, "LB_LINGER_TIMEOUT_MS", "MS",
           "after an error answer that ends a connection mid-request, what the client "
           "still sends is read and dropped for up to MS, so that it reads the answer "
           "instead of a reset")
        ->check(CLI::Range(0L, 600'000L));
    option("--body-timeout-ms", raw.body_timeout_ms, "LB_BODY_TIMEOUT_MS", "MS",
           "a request body must arrive within MS plus one second per --body-min-rate "
           "bytes, else 408; 0: no limit")
        ->check(CLI::Range(0L, 86'400'000L));
    option("--body-min-rate", body_min_rate, "LB_BODY_MIN_RATE", "BYTES",
           "bytes per second of body that extend --body-timeout-ms (0: a fixed deadline)")
        ->check(CLI::Range(0L, 1L << 40));
    option("--max-body", raw.max_body, "LB_MAX_BODY", "BYTES",
           "largest request body proxied, else 413; bodies are streamed, not held in "
           "memory (0: no limit)")
        ->check(CLI::NonNegativeNumber);
    option("--max-connections", raw.max_connections, "LB_MAX_CONNECTIONS", "N",
           "client connections open at most, split over the workers; at the limit lbd "
           "stops accepting and new connections wait in the kernel's backlog")
        ->check(CLI::Range(0L, 10'000'000L))
        ->default_str("0, half the open-file limit");
    option("--max-in-flight-per-replica", max_in_flight, "LB_MAX_IN_FLIGHT_PER_REPLICA", "N",
           "requests in flight to one replica at most, split over the workers; more wait "
           "in its queue (0: no limit)")
        ->check(CLI::Range(0L, 10'000'000L));
    option("--max-queued-per-replica", max_queued, "LB_MAX_QUEUED_PER_REPLICA", "N",
           "requests waiting for a replica at its limit; past it: 503")
        ->check(CLI::Range(0L, 10'000'000L));
    option("--queue-timeout-ms", raw.queue_timeout_ms, "LB_QUEUE_TIMEOUT_MS", "MS",
           "the longest a request waits for a replica at its limit; then 503")
        ->check(CLI::Range(1L, 3'600'000L));
    option("--max-upstream-connections", max_upstream, "LB_MAX_UPSTREAM_CONNECTIONS", "N",
           "connections to one replica per worker at most (in flight and idle; 0: no limit)")
        ->check(CLI::Range(0L, 10'000'000L));
    option("--upstream-idle", upstream_idle, "LB_UPSTREAM_IDLE", "N",
           "idle keep-alive connections kept per upstream and worker")
        ->check(CLI::Range(0L, 65536L));
    option("--upstream-idle-timeout-ms", raw.upstream_idle_timeout_ms,
           "LB_UPSTREAM_IDLE_TIMEOUT_MS", "MS",
           "close pooled upstream connections idle for MS (keep it below the replicas' own "
           "keep-alive timeout)")
        ->check(CLI::Range(1L, 3'600'000L));
    option("--tunnel-idle-timeout-ms", raw.tunnel_idle_timeout_ms, "LB_TUNNEL_IDLE_TIMEOUT_MS",
           "MS",
           "an upgraded connection (WebSocket) through which nothing moved either way "
           "for MS closes")
        ->check(CLI::Range(1L, 86'400'000L));
    option("--drain-timeout-ms", raw.drain_timeout_ms, "LB_DRAIN_TIMEOUT_MS", "MS",
           "on SIGTERM, the time requests in flight get to finish; then they are cut off")
        ->check(CLI::Range(0L, 3'600'000L));
    option("--client-buffers", raw.client_buffers, "LB_CLIENT_BUFFERS", "N",
           "receive buffers (16 KiB) for client connections, per worker")
        ->check(power_of_two(2, 32768));
    option("--upstream-buffers", raw.upstream_buffers, "LB_UPSTREAM_BUFFERS", "N",
           "receive buffers (16 KiB) for upstream connections, per worker")
        ->check(power_of_two(2, 32768));
    option("--batch-wait-us", raw.batch_wait_us, "LB_BATCH_WAIT_US", "US",
           "a worker with 32 or more client connections wakes once per batch of I/O "
           "completions, at most US late (0: for each, which costs less CPU on Linux 6.18; "
           "needs Linux 6.12)")
        ->check(CLI::Range(0L, 10'000L));
    option("--admin-listen", raw.admin_listen, "LB_ADMIN_LISTEN", "ADDR",
           "/metrics, /ring, /stats; \"off\" disables");
    option("--admin-token", config.admin_token, "LB_ADMIN_TOKEN", "TOKEN",
           "require \"Authorization: Bearer TOKEN\" on /add and /rm");
    list_option("--control-from", raw.control_from, "LB_CONTROL_FROM", "CIDR",
                "answer /add and /rm only to clients in this network, else 403; repeat it "
                "(comma-separated in the environment; default: any client)");
    app.add_flag("--allow-dns-upstreams", config.allow_dns_upstreams,
                 "static backend: /add may name upstreams by DNS name (resolved off the "
                 "control thread, 2 s at most); without it, IP addresses only")
        ->envname("LB_ALLOW_DNS_UPSTREAMS");
    list_option("--balancer-name", raw.balancer_names, "LB_BALANCER_NAMES", "NAME",
                "a name lbd itself has on the replicas' network (a compose service or "
                "network alias), refused as an /add hostname; repeat it (the host name is "
                "refused too)")
        ->default_str("lbd");

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        result.help = true;
        result.text = app.help();
        return result;
    } catch (const CLI::ParseError& error) {
        return std::unexpected(std::string(error.what()));
    }

    auto listen = net::endpoint::parse(raw.listen);
    if (!listen) {
        return std::unexpected("--listen: " + listen.error());
    }
    config.listen = *listen;
    if (raw.admin_listen == "off") {
        config.admin_enabled = false;
    } else if (auto admin = net::endpoint::parse(raw.admin_listen)) {
        config.admin_listen = *admin;
    } else {
        return std::unexpected("--admin-listen: " + admin.error());
    }
    config.max_replicas = static_cast<std::size_t>(max_replicas);
    if (raw.replicas < 0 || raw.replicas > max_replicas) {
        return std::unexpected("--replicas: Value " + std::to_string(raw.replicas) +
                               " not in range 0 to " + std::to_string(max_replicas) +
                               " (--max-replicas)");
    }
    config.replicas = static_cast<std::size_t>(raw.replicas);
    config.backend = raw.backend == "static"   ? balancer::backend_kind::static_list
                     : raw.backend == "docker" ? balancer::backend_kind::docker
                     : raw.backend == "swarm"  ? balancer::backend_kind::swarm
                                               : balancer::backend_kind::process;
    config.docker_socket =
        raw.docker_socket.starts_with("unix:") ? raw.docker_socket : "unix:" + raw.docker_socket;
    if (!net::endpoint::parse(config.docker_socket)) {
        return std::unexpected("--docker-socket: '" + raw.docker_socket + "' is not a path");
    }
    if (config.replica_seccomp_host_path.empty()) {
        config.replica_seccomp_host_path = config.replica_seccomp;
    }
    config.replica_binary =
        raw.replica_bin.empty() ? default_replica_binary(argv[0]) : raw.replica_bin;
    if (auto failed = read_membership(raw, config)) {
        return std::unexpected(*failed);
    }
    for (const auto& text : raw.control_from) {
        if (text.empty()) {
            continue; // LB_CONTROL_FROM= (compose passes it through empty)
        }
        auto network = net::cidr::parse(text);
        if (!network) {
            return std::unexpected("--control-from: " + network.error());
        }
        config.control_from.push_back(*network);
    }
    for (const auto& name : raw.balancer_names) {
        if (!name.empty()) {
            config.own_names.push_back(name);
        }
    }
    if (char host[256] = {}; gethostname(host, sizeof host - 1) == 0 && host[0] != '\0') {
        config.own_names.emplace_back(host);
    }
    config.respawn_new_name = raw.respawn_name == "new";
    if (config.respawn_new_name && config.backend == balancer::backend_kind::swarm) {
        // Every balancer would replace the shared service under a name of its own.
        return std::unexpected("--respawn-name new does not go with --backend swarm: Swarm "
                               "restarts a replica's task under its name");
    }
    config.replica_id_is_name = raw.replica_id == "name";
    config.ring.algorithm = *hashing::parse_algorithm(raw.hash);
    config.ring.probe = *hashing::parse_probe(raw.probe);
    config.ring.slots = static_cast<decltype(config.ring.slots)>(slots);
    config.ring.vnodes = static_cast<decltype(config.ring.vnodes)>(vnodes);
    config.ring.points = static_cast<decltype(config.ring.points)>(points);
    config.ring.table_size = static_cast<decltype(config.ring.table_size)>(table_size);
    config.ring.load_factor = load_factor;
    if (auto valid = hashing::validate(config.ring); !valid) {
        return std::unexpected(valid.error().message);
    }
    auto key = balancer::key_source::parse(raw.hash_key);
    if (!key) {
        return std::unexpected("--hash-key: " + key.error());
    }
    config.key = *key;
    using std::chrono::milliseconds;
    config.threads = static_cast<std::size_t>(raw.threads);
    config.heartbeat = milliseconds{raw.heartbeat_ms};
    config.swarm_poll = milliseconds{raw.swarm_poll_ms};
    config.fall = static_cast<int>(fall);
    config.connect_timeout = milliseconds{raw.connect_timeout_ms};
    config.response_timeout = milliseconds{raw.response_timeout_ms};
    config.header_timeout = milliseconds{raw.header_timeout_ms};
    config.idle_timeout = milliseconds{raw.idle_timeout_ms};
    config.linger_timeout = milliseconds{raw.linger_timeout_ms};
    config.startup_timeout = milliseconds{raw.startup_timeout_ms};
    config.body_timeout = milliseconds{raw.body_timeout_ms};
    config.body_min_rate = static_cast<std::uint64_t>(body_min_rate);
    config.proxy_body_limit = raw.max_body == 0 ? std::numeric_limits<std::uint64_t>::max()
                                                : static_cast<std::uint64_t>(raw.max_body);
    config.max_connections = static_cast<std::size_t>(
        raw.max_connections == 0 ? default_connections : raw.max_connections);
    config.max_in_flight_per_replica = static_cast<std::size_t>(max_in_flight);
    config.max_queued_per_replica = static_cast<std::size_t>(max_queued);
    config.queue_timeout = milliseconds{raw.queue_timeout_ms};
    config.max_upstream_connections = static_cast<std::size_t>(max_upstream);
    config.upstream_idle = static_cast<std::size_t>(upstream_idle);
    config.upstream_idle_timeout = milliseconds{raw.upstream_idle_timeout_ms};
    config.drain_timeout = milliseconds{raw.drain_timeout_ms};
    config.tunnel_idle_timeout = milliseconds{raw.tunnel_idle_timeout_ms};
    config.client_buffers = static_cast<unsigned>(raw.client_buffers);
    config.upstream_buffers = static_cast<unsigned>(raw.upstream_buffers);
    config.batch_wait = std::chrono::microseconds{raw.batch_wait_us};
    return result;
}

} // namespace cmd
