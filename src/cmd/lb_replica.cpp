// lb-replica: the replica web server that lbd manages. Parses flags and wires the
// replica handler to a worker pool; shuts down gracefully on SIGTERM/SIGINT.

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "cmd/flags.hpp"
#include "cmd/open_files.hpp"
#include "net/listener.hpp"
#include "net/worker_pool.hpp"
#include "replica/replica_handler.hpp"
#include "runtime/reactor.hpp"
#include "runtime/signals.hpp"
#include "runtime/startup_error.hpp"

namespace {
constexpr const char* usage =
    R"(Usage: lb-replica [--listen HOST:PORT] [--id ID] [--threads N] [options]

The replica web server managed by lbd.
  GET /home       200 {"message": "Hello from Server: <ID>", "status": "successful"}
  GET /heartbeat  200, empty body
  other paths     404 with a JSON error

Options:
  --listen HOST:PORT  address to serve on (default 0.0.0.0:5000). When started with
                      LISTEN_FDS=1, the inherited listening socket on fd 3 is used
                      instead and --listen is ignored.
  --id ID             server id for /home (default: $SERVER_ID, else "Unknown")
  --threads N         worker threads, 1-256 (default 1)
  --header-timeout-ms MS  a request head must arrive within MS, else 408 (default 10000)
  --idle-timeout-ms MS    close keep-alive connections idle for MS (default 60000)
  --delay-ms MS           answer /home MS late: a slow replica, for tests and
                          benchmarks (default 0)
  --max-connections N     connections open at most per thread; then new ones wait in
                          the kernel's backlog (default: half the open-file limit)
  -h, --help          show this text

SIGTERM or SIGINT: stop accepting, finish requests in flight (10 s at most), exit 0;
a second signal exits at once.
)";

int usage_error(const std::string& message) {
    std::fprintf(stderr, "lb-replica: %s\n\n%s", message.c_str(), usage);
    return 2;
}
} // namespace

int main(int argc, char** argv) {
    std::string listen = "0.0.0.0:5000";
    std::string id_flag;
    long threads = 1;
    long header_timeout_ms = 10'000;
    long idle_timeout_ms = 60'000;
    long delay_ms = 0;
    const std::size_t open_files = cmd::raise_open_files_limit();
    long max_connections = static_cast<long>(std::max<std::size_t>(64, open_files / 2));
    cmd::flag_reader flags{argc, argv};
    while (!flags.done()) {
        const std::string name = flags.next_name();
        if (name == "h" || name == "help") {
            std::fputs(usage, stdout);
            return 0;
        }
        if (name != "listen" && name != "id" && name != "threads" && name != "header-timeout-ms" &&
            name != "idle-timeout-ms" && name != "delay-ms" && name != "max-connections") {
            return usage_error("unknown option '" + name + "'");
        }
        auto value = flags.value();
        if (!value) {
            return usage_error("--" + name + " needs a value");
        }
        if (name == "listen") {
            listen = *value;
        } else if (name == "id") {
            id_flag = *value;
        } else if (name == "threads") {
            auto number = cmd::parse_number(*value, 1, 256);
            if (!number) {
                return usage_error("--threads takes a number from 1 to 256");
            }
            threads = *number;
        } else if (name == "delay-ms") {
            auto number = cmd::parse_number(*value, 0, 3'600'000);
            if (!number) {
                return usage_error("--delay-ms takes milliseconds from 0 to 3600000");
            }
            delay_ms = *number;
        } else if (name == "max-connections") {
            auto number = cmd::parse_number(*value, 1, 10'000'000);
            if (!number) {
                return usage_error("--max-connections takes a number from 1 to 10000000");
            }
            max_connections = *number;
        } else {
            auto number = cmd::parse_number(*value, 1, 3'600'000);
            if (!number) {
                return usage_error("--" + name + " takes milliseconds from 1 to 3600000");
            }
            (name == "header-timeout-ms" ? header_timeout_ms : idle_timeout_ms) = *number;
        }
    }

    std::signal(SIGPIPE, SIG_IGN);
    try {
        runtime::signal_set::block_in_process({SIGINT, SIGTERM});
        net::worker_pool_options options;
        options.threads = static_cast<std::size_t>(threads);
        options.limits.header_timeout = std::chrono::milliseconds{header_timeout_ms};
        options.limits.idle_timeout = std::chrono::milliseconds{idle_timeout_ms};
        options.limits.max_connections = static_cast<std::size_t>(max_connections);
        auto inherited = net::inherited_listener();
        if (!inherited) {
            throw runtime::startup_error(inherited.error());
        }
        if (*inherited) {
            options.shared_listener = std::move(*inherited);
        } else {
            auto where = net::endpoint::parse(listen);
            if (!where) {
                return usage_error("--listen: " + where.error());
            }
            options.listen = *where;
        }
        const std::string id = replica::resolve_server_id(id_flag.c_str());

        runtime::reactor main_loop;
        runtime::signal_set signals{SIGINT, SIGTERM};
        const std::chrono::milliseconds delay{delay_ms};
        net::worker_pool pool{std::move(options), [&id, delay](std::size_t) {
                                  return std::make_unique<replica::replica_handler>(id, delay);
                              }};
        std::fprintf(stderr, "lb-replica: id=%s listening on %s with %ld thread(s)\n", id.c_str(),
                     pool.local_endpoint().to_string().c_str(), threads);
        const int signal_number = main_loop.block_on(signals.next());
        std::fprintf(stderr, "lb-replica: %s, finishing requests in flight\n",
                     signal_number > 0 ? sigabbrev_np(signal_number) : "signal");
        pool.stop();
        // Requests in flight get 10 s; then they are cut off. A second signal exits now.
        using drain = net::worker_pool::drain_result;
        drain drained = pool.wait_drained(std::chrono::seconds{10}, signals.fd());
        if (drained == drain::timed_out) {
            pool.abort();
            drained = pool.wait_drained(std::chrono::seconds{5}, signals.fd());
        }
        if (drained != drain::drained) {
            std::fprintf(stderr, "lb-replica: exiting now\n");
            std::_Exit(0);
        }
        pool.join();
        return 0;
    } catch (const runtime::startup_error& error) {
        std::fprintf(stderr, "lb-replica: %s\n", error.what());
        return 1;
    }
}
