// lbd: the load balancer. Parses flags (each with an environment fallback for
// containers), then wires the control thread, the worker pool and signal handling.

#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "balancer/balancer_handler.hpp"
#include "balancer/config.hpp"
#include "balancer/control_plane.hpp"
#include "balancer/log.hpp"
#include "cmd/flags.hpp"
#include "net/worker_pool.hpp"
#include "orchestrator/docker_orchestrator.hpp"
#include "orchestrator/process_orchestrator.hpp"
#include "orchestrator/static_orchestrator.hpp"
#include "runtime/reactor.hpp"
#include "runtime/signals.hpp"
#include "runtime/startup_error.hpp"

namespace {
constexpr const char* usage = R"(Usage: lbd [options]

An HTTP/1.1 load balancer: routes requests to replicas by consistent hashing of a
request key, and keeps its replicas alive. Serves the control API (GET /rep, POST /add,
DELETE /rm) and proxies every other path. Each option has an environment fallback.

Options:
  --listen HOST:PORT     where to serve (LB_LISTEN; default 0.0.0.0:5000)
  --replicas N           replicas to start, 0-64 (LB_REPLICAS; default 3)
  --backend KIND         process (local lb-replica children), docker (containers
                         through the Docker Engine API) or static (LB_BACKEND;
                         default process)
  --replica-bin PATH     the replica program (LB_REPLICA_BIN; default: lb-replica
                         beside lbd)
  --upstream HOST:PORT   a static upstream; repeat it (LB_UPSTREAMS, comma-separated)
  --docker-socket PATH   the Docker (or Podman) API socket (LB_DOCKER_SOCKET;
                         default /var/run/docker.sock)
  --docker-network NAME  network for replica containers, created if missing
                         (LB_DOCKER_NETWORK; default lbd-net)
  --docker-instance NAME label value that tells this lbd's containers apart
                         (LB_DOCKER_INSTANCE; default lbd)
  --replica-image IMAGE  image of replica containers (LB_REPLICA_IMAGE;
                         default lb-replica:latest)
  --replica-seccomp FILE seccomp profile (JSON) for replica containers, e.g. one that
                         allows io_uring (LB_REPLICA_SECCOMP; default: the daemon's)
  --replica-seccomp-host-path PATH
                         Podman opens the profile itself: its path on Podman's host
                         (LB_REPLICA_SECCOMP_HOST_PATH; default: the --replica-seccomp
                         path, right when lbd runs on that host)
  --hash ALGORITHM       spec, ring, ketama, maglev, rendezvous or bounded
                         (LB_HASH; default maglev)
  --slots M              slots of the spec and ring rings (LB_SLOTS; default 512)
  --vnodes K             virtual servers per replica, spec and ring (LB_VNODES; default 9)
  --points P             points per replica, ketama and bounded (LB_POINTS; default 160)
  --table-size T         maglev table size, a prime (LB_TABLE_SIZE; default 65537)
  --probe MODE           spec collisions: linear or quadratic (LB_PROBE; default linear)
  --load-factor C        bounded: skip replicas above ceil(C x mean) (LB_LOAD_FACTOR;
                         default 1.25)
  --hash-key SOURCE      header:NAME, cookie:NAME, query:NAME, path, client-ip or random
                         (LB_HASH_KEY; default header:X-Request-ID; a random 6-digit id
                         when the source is absent)
  --threads N            worker threads (LB_THREADS; default: number of CPUs)
  --heartbeat-ms MS      health check interval (LB_HEARTBEAT_MS; default 500)
  --fall N               failed heartbeats in a row that take a replica out
                         (LB_FALL; default 2)
  --max-replicas N       upper limit for /add (LB_MAX_REPLICAS; default 64)
  --connect-timeout-ms MS  upstream connect timeout; then the next replica is tried
                         (LB_CONNECT_TIMEOUT_MS; default 1000)
  --response-timeout-ms MS upstream response timeout, answered 504
                         (LB_RESPONSE_TIMEOUT_MS; default 10000)
  --header-timeout-ms MS a client's request head must arrive within MS, else 408
                         (LB_HEADER_TIMEOUT_MS; default 10000)
  --idle-timeout-ms MS   close client connections idle for MS (LB_IDLE_TIMEOUT_MS;
                         default 60000)
  --upstream-idle N      idle keep-alive connections kept per upstream and worker
                         (LB_UPSTREAM_IDLE; default 1024)
  --max-body BYTES       largest request body proxied, else 413; bodies are streamed,
                         not held in memory (LB_MAX_BODY; default 0: no limit)
  --batch-wait-us US     a worker with 32 or more client connections wakes once per
                         batch of I/O completions, at most US late, instead of once per
                         completion: fewer cross-CPU wake-ups under load (LB_BATCH_WAIT_US;
                         default 20; 0 wakes for each; needs Linux 6.12)
  --admin-listen ADDR    /metrics, /ring, /stats; "off" disables (LB_ADMIN_LISTEN;
                         default 127.0.0.1:9901)
  --admin-token TOKEN    require "Authorization: Bearer TOKEN" on /add and /rm
                         (LB_ADMIN_TOKEN; default: none)
  -h, --help             show this text

SIGTERM or SIGINT: stop accepting, finish requests in flight, stop the replicas, exit 0.
)";

int usage_error(const std::string& message) {
    std::fprintf(stderr, "lbd: %s\n(see lbd --help)\n", message.c_str());
    return 2;
}

struct raw_flags {
    std::string listen = cmd::env_or("LB_LISTEN", "0.0.0.0:5000");
    std::string replicas = cmd::env_or("LB_REPLICAS", "3");
    std::string backend = cmd::env_or("LB_BACKEND", "process");
    std::string replica_bin = cmd::env_or("LB_REPLICA_BIN", "");
    std::string upstreams = cmd::env_or("LB_UPSTREAMS", "");
    std::string docker_socket = cmd::env_or("LB_DOCKER_SOCKET", "/var/run/docker.sock");
    std::string docker_network = cmd::env_or("LB_DOCKER_NETWORK", "lbd-net");
    std::string docker_instance = cmd::env_or("LB_DOCKER_INSTANCE", "lbd");
    std::string replica_image = cmd::env_or("LB_REPLICA_IMAGE", "lb-replica:latest");
    std::string replica_seccomp = cmd::env_or("LB_REPLICA_SECCOMP", "");
    std::string replica_seccomp_host_path = cmd::env_or("LB_REPLICA_SECCOMP_HOST_PATH", "");
    std::string hash = cmd::env_or("LB_HASH", "maglev");
    std::string slots = cmd::env_or("LB_SLOTS", "512");
    std::string vnodes = cmd::env_or("LB_VNODES", "9");
    std::string points = cmd::env_or("LB_POINTS", "160");
    std::string table_size = cmd::env_or("LB_TABLE_SIZE", "65537");
    std::string probe = cmd::env_or("LB_PROBE", "linear");
    std::string load_factor = cmd::env_or("LB_LOAD_FACTOR", "1.25");
    std::string hash_key = cmd::env_or("LB_HASH_KEY", "header:X-Request-ID");
    std::string threads = cmd::env_or("LB_THREADS", "");
    std::string heartbeat_ms = cmd::env_or("LB_HEARTBEAT_MS", "500");
    std::string fall = cmd::env_or("LB_FALL", "2");
    std::string max_replicas = cmd::env_or("LB_MAX_REPLICAS", "64");
    std::string connect_timeout_ms = cmd::env_or("LB_CONNECT_TIMEOUT_MS", "1000");
    std::string response_timeout_ms = cmd::env_or("LB_RESPONSE_TIMEOUT_MS", "10000");
    std::string header_timeout_ms = cmd::env_or("LB_HEADER_TIMEOUT_MS", "10000");
    std::string idle_timeout_ms = cmd::env_or("LB_IDLE_TIMEOUT_MS", "60000");
    std::string upstream_idle = cmd::env_or("LB_UPSTREAM_IDLE", "1024");
    std::string max_body = cmd::env_or("LB_MAX_BODY", "0");
    std::string batch_wait_us = cmd::env_or("LB_BATCH_WAIT_US", "20");
    std::string admin_listen = cmd::env_or("LB_ADMIN_LISTEN", "127.0.0.1:9901");
    std::string admin_token = cmd::env_or("LB_ADMIN_TOKEN", "");
    std::vector<std::string> upstream_flags;
};

// Every option that takes one value, and the field it fills (--upstream repeats: apart).
constexpr std::pair<std::string_view, std::string raw_flags::*> string_flags[] = {
    {"listen", &raw_flags::listen},
    {"replicas", &raw_flags::replicas},
    {"backend", &raw_flags::backend},
    {"replica-bin", &raw_flags::replica_bin},
    {"hash", &raw_flags::hash},
    {"docker-socket", &raw_flags::docker_socket},
    {"docker-network", &raw_flags::docker_network},
    {"docker-instance", &raw_flags::docker_instance},
    {"replica-image", &raw_flags::replica_image},
    {"replica-seccomp", &raw_flags::replica_seccomp},
    {"replica-seccomp-host-path", &raw_flags::replica_seccomp_host_path},
    {"slots", &raw_flags::slots},
    {"vnodes", &raw_flags::vnodes},
    {"points", &raw_flags::points},
    {"table-size", &raw_flags::table_size},
    {"probe", &raw_flags::probe},
    {"load-factor", &raw_flags::load_factor},
    {"hash-key", &raw_flags::hash_key},
    {"threads", &raw_flags::threads},
    {"heartbeat-ms", &raw_flags::heartbeat_ms},
    {"fall", &raw_flags::fall},
    {"max-replicas", &raw_flags::max_replicas},
    {"connect-timeout-ms", &raw_flags::connect_timeout_ms},
    {"response-timeout-ms", &raw_flags::response_timeout_ms},
    {"header-timeout-ms", &raw_flags::header_timeout_ms},
    {"idle-timeout-ms", &raw_flags::idle_timeout_ms},
    {"upstream-idle", &raw_flags::upstream_idle},
    {"max-body", &raw_flags::max_body},
    {"batch-wait-us", &raw_flags::batch_wait_us},
    {"admin-listen", &raw_flags::admin_listen},
    {"admin-token", &raw_flags::admin_token},
};

std::string default_replica_binary(const char* argv0) {
    std::error_code error;
    auto self = std::filesystem::read_symlink("/proc/self/exe", error);
    if (error) {
        self = std::filesystem::absolute(argv0, error);
    }
    return (self.parent_path() / "lb-replica").string();
}

std::vector<std::string> split_commas(const std::string& text) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto end = text.find(',', start);
        std::string part = text.substr(start, end == std::string::npos ? end : end - start);
        if (!part.empty()) {
            parts.push_back(part);
        }
        if (end == std::string::npos) {
            break;
        }
        start = end + 1;
    }
    return parts;
}

// Turns the raw flags into a validated configuration, or a message for the user.
std::expected<balancer::balancer_config, std::string> configure(const raw_flags& raw,
                                                                const char* argv0) {
    balancer::balancer_config config;
    auto number = [](const std::string& flag, const std::string& text, long low,
                     long high) -> std::expected<long, std::string> {
        if (auto value = cmd::parse_number(text, low, high)) {
            return *value;
        }
        return std::unexpected("--" + flag + " takes a number from " + std::to_string(low) +
                               " to " + std::to_string(high) + ", not '" + text + "'");
    };
#define LBD_NUMBER(target, flag, text, low, high)                                                  \
    if (auto value = number(flag, text, low, high)) {                                              \
        target = static_cast<decltype(target)>(*value);                                            \
    } else {                                                                                       \
        return std::unexpected(value.error());                                                     \
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
    config.admin_token = raw.admin_token;
    LBD_NUMBER(config.max_replicas, "max-replicas", raw.max_replicas, 1, 1024);
    LBD_NUMBER(config.replicas, "replicas", raw.replicas, 0,
               static_cast<long>(config.max_replicas));
    if (raw.backend == "process") {
        config.backend = balancer::backend_kind::process;
    } else if (raw.backend == "static") {
        config.backend = balancer::backend_kind::static_list;
    } else if (raw.backend == "docker") {
        config.backend = balancer::backend_kind::docker;
    } else {
        return std::unexpected("--backend: '" + raw.backend +
                               "' is not a backend (expected process, docker or static)");
    }
    config.docker_socket =
        raw.docker_socket.starts_with("unix:") ? raw.docker_socket : "unix:" + raw.docker_socket;
    if (!net::endpoint::parse(config.docker_socket)) {
        return std::unexpected("--docker-socket: '" + raw.docker_socket + "' is not a path");
    }
    config.docker_network = raw.docker_network;
    config.docker_instance = raw.docker_instance;
    config.replica_image = raw.replica_image;
    config.replica_seccomp = raw.replica_seccomp;
    config.replica_seccomp_host_path =
        raw.replica_seccomp_host_path.empty() ? raw.replica_seccomp : raw.replica_seccomp_host_path;
    config.replica_binary =
        raw.replica_bin.empty() ? default_replica_binary(argv0) : raw.replica_bin;
    config.upstreams =
        raw.upstream_flags.empty() ? split_commas(raw.upstreams) : raw.upstream_flags;
    if (config.backend == balancer::backend_kind::static_list) {
        if (config.upstreams.empty()) {
            return std::unexpected("--backend static needs at least one --upstream HOST:PORT");
        }
        for (const auto& upstream : config.upstreams) {
            auto where = net::endpoint::parse(upstream);
            if (!where || where->port() == 0) {
                return std::unexpected("--upstream '" + upstream + "' is not HOST:PORT");
            }
        }
    } else if (!config.upstreams.empty()) {
        return std::unexpected("--upstream needs --backend static");
    }
    auto algorithm = hashing::parse_algorithm(raw.hash);
    if (!algorithm) {
        return std::unexpected("--hash: " + algorithm.error().message);
    }
    config.ring.algorithm = *algorithm;
    LBD_NUMBER(config.ring.slots, "slots", raw.slots, 1, 1 << 24);
    LBD_NUMBER(config.ring.vnodes, "vnodes", raw.vnodes, 1, 4096);
    LBD_NUMBER(config.ring.points, "points", raw.points, 1, 4096);
    LBD_NUMBER(config.ring.table_size, "table-size", raw.table_size, 3, 16777213);
    auto probe = hashing::parse_probe(raw.probe);
    if (!probe) {
        return std::unexpected("--probe: " + probe.error().message);
    }
    config.ring.probe = *probe;
    try {
        std::size_t used = 0;
        config.ring.load_factor = std::stod(raw.load_factor, &used);
        if (used != raw.load_factor.size()) {
            throw std::invalid_argument("trailing characters");
        }
    } catch (const std::exception&) {
        return std::unexpected("--load-factor takes a number above 1, not '" + raw.load_factor +
                               "'");
    }
    if (auto valid = hashing::validate(config.ring); !valid) {
        return std::unexpected(valid.error().message);
    }
    auto key = balancer::key_source::parse(raw.hash_key);
    if (!key) {
        return std::unexpected(key.error());
    }
    config.key = *key;
    const long cpus = static_cast<long>(std::max(1u, std::thread::hardware_concurrency()));
    LBD_NUMBER(config.threads, "threads", raw.threads.empty() ? std::to_string(cpus) : raw.threads,
               1, 256);
    long heartbeat_ms = 500;
    LBD_NUMBER(heartbeat_ms, "heartbeat-ms", raw.heartbeat_ms, 10, 600'000);
    config.heartbeat = std::chrono::milliseconds{heartbeat_ms};
    LBD_NUMBER(config.fall, "fall", raw.fall, 1, 100);
    long connect_ms = 1000;
    LBD_NUMBER(connect_ms, "connect-timeout-ms", raw.connect_timeout_ms, 1, 600'000);
    config.connect_timeout = std::chrono::milliseconds{connect_ms};
    long response_ms = 10'000;
    LBD_NUMBER(response_ms, "response-timeout-ms", raw.response_timeout_ms, 1, 3'600'000);
    config.response_timeout = std::chrono::milliseconds{response_ms};
    long header_ms = 10'000;
    LBD_NUMBER(header_ms, "header-timeout-ms", raw.header_timeout_ms, 1, 3'600'000);
    config.header_timeout = std::chrono::milliseconds{header_ms};
    long idle_ms = 60'000;
    LBD_NUMBER(idle_ms, "idle-timeout-ms", raw.idle_timeout_ms, 1, 3'600'000);
    config.idle_timeout = std::chrono::milliseconds{idle_ms};
    LBD_NUMBER(config.upstream_idle, "upstream-idle", raw.upstream_idle, 0, 65536);
    LBD_NUMBER(config.proxy_body_limit, "max-body", raw.max_body, 0,
               std::numeric_limits<long>::max());
    if (config.proxy_body_limit == 0) {
        config.proxy_body_limit = std::numeric_limits<std::uint64_t>::max();
    }
    long batch_wait_us = 20;
    LBD_NUMBER(batch_wait_us, "batch-wait-us", raw.batch_wait_us, 0, 10'000);
    config.batch_wait = std::chrono::microseconds{batch_wait_us};
#undef LBD_NUMBER
    return config;
}
} // namespace

int main(int argc, char** argv) {
    raw_flags raw;
    cmd::flag_reader flags{argc, argv};
    while (!flags.done()) {
        const std::string name = flags.next_name();
        if (name == "h" || name == "help") {
            std::fputs(usage, stdout);
            return 0;
        }
        std::string* target = nullptr;
        for (const auto& [flag, member] : string_flags) {
            if (name == flag) {
                target = &(raw.*member);
            }
        }
        if (target == nullptr && name != "upstream") {
            return usage_error("unknown option '" + name + "'");
        }
        auto value = flags.value();
        if (!value) {
            return usage_error("--" + name + " needs a value");
        }
        if (target != nullptr) {
            *target = *value;
        } else {
            raw.upstream_flags.push_back(*value);
        }
    }
    auto configured = configure(raw, argv[0]);
    if (!configured) {
        return usage_error(configured.error());
    }
    const balancer::balancer_config config = std::move(*configured);

    std::signal(SIGPIPE, SIG_IGN);
    try {
        runtime::signal_set::block_in_process({SIGINT, SIGTERM});
        runtime::reactor main_loop;
        runtime::signal_set signals{SIGINT, SIGTERM};

        std::unique_ptr<orchestrator::orchestrator> backend;
        if (config.backend == balancer::backend_kind::static_list) {
            backend = std::make_unique<orchestrator::static_orchestrator>();
        } else if (config.backend == balancer::backend_kind::docker) {
            orchestrator::docker_options docker;
            docker.socket = *net::endpoint::parse(config.docker_socket);
            docker.image = config.replica_image;
            docker.network = config.docker_network;
            docker.instance = config.docker_instance;
            if (!config.replica_seccomp.empty()) {
                std::ifstream profile{config.replica_seccomp};
                if (!profile) {
                    throw runtime::startup_error("--replica-seccomp: cannot read " +
                                                 config.replica_seccomp);
                }
                docker.seccomp_profile.assign(std::istreambuf_iterator<char>{profile}, {});
                docker.seccomp_path = config.replica_seccomp_host_path;
            }
            backend = std::make_unique<orchestrator::docker_orchestrator>(std::move(docker));
        } else {
            backend = std::make_unique<orchestrator::process_orchestrator>(config.replica_binary);
        }
        balancer::control_plane control{config, std::move(backend)};
        control.start();

        std::vector<balancer::balancer_handler*> handlers(config.threads, nullptr);
        net::worker_pool_options options;
        options.threads = config.threads;
        options.listen = config.listen;
        options.limits.header_timeout = config.header_timeout;
        options.reactor.batch_wait = config.batch_wait;
        options.limits.batch_waits_from = 32;
        options.limits.idle_timeout = config.idle_timeout;
        net::worker_pool pool{std::move(options), [&](std::size_t worker) {
                                  auto handler = std::make_unique<balancer::balancer_handler>(
                                      config, control, control.current());
                                  handlers[worker] = handler.get();
                                  return handler;
                              }};
        std::vector<balancer::worker_link> links;
        for (std::size_t worker = 0; worker < handlers.size(); ++worker) {
            links.push_back({[&pool, worker](std::move_only_function<void()> function) {
                                 return pool.post(worker, std::move(function));
                             },
                             handlers[worker]});
        }
        control.attach(std::move(links));
        balancer::log_event("info", "listening",
                            {{"address", pool.local_endpoint().to_string()},
                             {"threads", std::to_string(config.threads)},
                             {"hash", hashing::to_string(config.ring.algorithm)},
                             {"key", config.key.describe()}});

        const int signal_number = main_loop.block_on(signals.next());
        balancer::log_event("info", "shutdown",
                            {{"signal", signal_number > 0 ? sigabbrev_np(signal_number) : "?"}});
        // Control stops talking to the workers first, then they drain, then control stops
        // the replicas.
        control.detach();
        pool.stop();
        pool.join();
        control.stop();
        control.join();
        balancer::log_event("info", "stopped");
        return 0;
    } catch (const runtime::startup_error& error) {
        std::fprintf(stderr, "lbd: %s\n", error.what());
        return 1;
    }
}
