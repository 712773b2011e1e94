// lbd: the load balancer. Parses its flags (lbd_options.cpp), then wires the control
// thread, the worker pool and signal handling, and shuts down in order.

#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "balancer/balancer_handler.hpp"
#include "balancer/config.hpp"
#include "balancer/control_plane.hpp"
#include "balancer/log.hpp"
#include "cmd/lbd_options.hpp"
#include "cmd/open_files.hpp"
#include "net/worker_pool.hpp"
#include "orchestrator/docker_orchestrator.hpp"
#include "orchestrator/process_orchestrator.hpp"
#include "orchestrator/static_orchestrator.hpp"
#include "orchestrator/swarm_orchestrator.hpp"
#include "runtime/reactor.hpp"
#include "runtime/signals.hpp"
#include "runtime/startup_error.hpp"

namespace {
int usage_error(const std::string& message) {
    std::fprintf(stderr, "lbd: %s\n(see lbd --help)\n", message.c_str());
    return 2;
}

orchestrator::server_id_kind server_id_kind(const balancer::balancer_config& config) {
    return config.replica_id_is_name ? orchestrator::server_id_kind::name
                                     : orchestrator::server_id_kind::number;
}

std::unique_ptr<orchestrator::orchestrator> make_backend(const balancer::balancer_config& config) {
    if (config.backend == balancer::backend_kind::static_list) {
        return std::make_unique<orchestrator::static_orchestrator>(
            std::set<std::string, std::less<>>(config.upstreams.begin(), config.upstreams.end()),
            config.allow_dns_upstreams);
    }
    if (config.backend == balancer::backend_kind::process) {
        return std::make_unique<orchestrator::process_orchestrator>(config.replica_binary,
                                                                    server_id_kind(config));
    }
    std::string seccomp;
    if (!config.replica_seccomp.empty()) {
        std::ifstream profile{config.replica_seccomp};
        if (!profile) {
            throw runtime::startup_error("--replica-seccomp: cannot read " +
                                         config.replica_seccomp);
        }
        seccomp.assign(std::istreambuf_iterator<char>{profile}, {});
    }
    const orchestrator::engine_options engine{.socket = *net::endpoint::parse(config.docker_socket),
                                              .image = config.replica_image,
                                              .network = config.docker_network,
                                              .instance = config.docker_instance,
                                              .seccomp_profile = std::move(seccomp),
                                              .server_id = server_id_kind(config)};
    if (config.backend == balancer::backend_kind::swarm) {
        orchestrator::swarm_options swarm{engine};
        swarm.poll = config.swarm_poll;
        swarm.start_timeout = config.startup_timeout;
        return std::make_unique<orchestrator::swarm_orchestrator>(std::move(swarm));
    }
    orchestrator::docker_options docker{engine};
    if (!docker.seccomp_profile.empty()) {
        docker.seccomp_path = config.replica_seccomp_host_path;
    }
    return std::make_unique<orchestrator::docker_orchestrator>(std::move(docker));
}

net::worker_pool_options pool_options(const balancer::balancer_config& config) {
    net::worker_pool_options options;
    options.threads = config.threads;
    options.listen = config.listen;
    options.limits.header_timeout = config.header_timeout;
    options.limits.idle_timeout = config.idle_timeout;
    options.limits.linger_timeout = config.linger_timeout;
    options.limits.body_timeout = config.body_timeout;
    options.limits.body_min_rate = config.body_min_rate;
    // Each worker takes its share of the connection budget.
    options.limits.max_connections =
        std::max<std::size_t>(1, config.max_connections / std::max<std::size_t>(1, config.threads));
    options.limits.batch_waits_from = 32;
    options.reactor.batch_wait = config.batch_wait;
    options.reactor.server_buffers.count = config.client_buffers;
    options.reactor.client_buffers.count = config.upstream_buffers;
    return options;
}
} // namespace

int main(int argc, char** argv) {
    const std::size_t open_files = cmd::raise_open_files_limit();
    auto parsed = cmd::parse_lbd_command_line(argc, argv, open_files);
    if (!parsed) {
        return usage_error(parsed.error());
    }
    if (parsed->help) {
        std::fputs(parsed->text.c_str(), stdout);
        return 0;
    }
    const balancer::balancer_config config = std::move(parsed->config);
    if (!config.listen.is_local() && config.admin_token.empty()) {
        balancer::log_event(
            "warn", "control_api_open",
            {{"listen", config.listen.to_string()},
             {"detail", "anyone who reaches this address can /add and /rm replicas: set "
                        "--admin-token (and --control-from) or listen on 127.0.0.1"}});
    }

    std::signal(SIGPIPE, SIG_IGN);
    try {
        runtime::signal_set::block_in_process({SIGINT, SIGTERM});
        runtime::reactor main_loop;
        runtime::signal_set signals{SIGINT, SIGTERM};

        balancer::control_plane control{config, make_backend(config)};
        control.start();

        std::vector<balancer::balancer_handler*> handlers(config.threads, nullptr);
        net::worker_pool pool{pool_options(config), [&](std::size_t worker) {
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
                             {"key", config.key.describe()},
                             {"max_connections", std::to_string(config.max_connections)}});

        const int signal_number = main_loop.block_on(signals.next());
        balancer::log_event("info", "shutdown",
                            {{"signal", signal_number > 0 ? sigabbrev_np(signal_number) : "?"}});
        // Control stops talking to the workers first, then they drain (within the drain
        // timeout, then whatever is left is cut off), then control stops the replicas. A
        // second signal ends it all at once.
        control.detach();
        pool.stop();
        using drain = net::worker_pool::drain_result;
        drain drained = pool.wait_drained(config.drain_timeout, signals.fd());
        if (drained == drain::timed_out) {
            balancer::log_event("warn", "drain_timeout",
                                {{"after_ms", std::to_string(config.drain_timeout.count())}});
            pool.abort();
            drained = pool.wait_drained(std::chrono::seconds{5}, signals.fd());
        }
        if (drained != drain::drained) {
            balancer::log_event(
                "warn", "exit_now",
                {{"reason", drained == drain::interrupted ? "second signal" : "workers stuck"}});
            std::fflush(stderr);
            std::_Exit(0);
        }
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
