#include "loadgen/load_runner.hpp"

#include <atomic>
#include <cerrno>
#include <charconv>
#include <exception>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "http/serializer.hpp"
#include "loadgen/pacer.hpp"
#include "net/endpoint.hpp"
#include "net/http_client.hpp"
#include "runtime/reactor.hpp"
#include "runtime/scope.hpp"

namespace loadgen {

namespace {

using clock_type = std::chrono::steady_clock;

// Everything the connections of every thread share. Read-only after start except for
// the counter and the latency slots.
struct shared_run {
    const load_options* options = nullptr;
    net::endpoint where;
    clock_type::time_point start;
    pacer pace{clock_type::time_point{}, 0};
    std::string body; // the POST body (--body-bytes), shared read-only
    // Request numbers handed out; relaxed is enough: the number only has to be unique,
    // and nothing else is published through it.
    std::atomic<std::uint64_t> next_request{0};
};

// A response body past this size is not kept (the id sits in the first bytes).
constexpr std::size_t kept_body_bytes = 4096;

void count_failure(load_report& report, int error, bool connecting) {
    if (error == -ETIMEDOUT) {
        ++report.errors.timeout;
    } else if (connecting) {
        ++report.errors.connect;
    } else if (error == -EPROTO || error == -EMSGSIZE) {
        ++report.errors.other;
    } else {
        ++report.errors.reset;
    }
}

runtime::task<void> drive_connection(shared_run* run, load_report* report, std::uint64_t seed) {
    const load_options& options = *run->options;
    std::mt19937_64 random(seed);
    // Six digits, like the random key lbd draws itself when a request has none.
    std::uniform_int_distribution<int> request_ids(100'000, 999'999);
    std::optional<net::client_connection> connection;
    std::string wire;
    std::string body;
    wire.reserve(256);
    body.reserve(kept_body_bytes);
    char id_text[16];

    for (;;) {
        const std::uint64_t number = run->next_request.fetch_add(1, std::memory_order_relaxed);
        if (number >= options.requests || (!run->pace.open_loop() && options.duration.count() > 0 &&
                                           clock_type::now() - run->start >= options.duration)) {
            break;
        }
        ++report->requests;
        // Open loop: not before the request is due (late ones go at once).
        if (const auto wait = run->pace.wait_before(number, clock_type::now());
            wait > clock_type::duration::zero()) {
            co_await runtime::sleep_for(wait);
        }
        const clock_type::time_point started = clock_type::now();

        if (!connection) {
            auto opened = co_await net::client_connection::open(run->where, options.timeout);
            if (!opened) {
                count_failure(*report, opened.error(), true);
                report->over_time.record(clock_type::now() - run->start, false);
                continue;
            }
            connection.emplace(std::move(*opened));
        }

        wire.clear();
        http::header_field headers[2] = {{"Host", options.url.host}, {}};
        std::size_t header_count = 1;
        if (options.request_ids == request_id_mode::random) {
            const auto [end, ignored] =
                std::to_chars(id_text, id_text + sizeof id_text, request_ids(random));
            headers[header_count++] = {
                "X-Request-ID", std::string_view(id_text, static_cast<std::size_t>(end - id_text))};
        }
        const bool post = options.body_bytes > 0;
        http::append_request_head(wire, post ? "POST" : "GET", options.url.target,
                                  std::span<const http::header_field>(headers, header_count),
                                  post ? std::optional<std::uint64_t>{options.body_bytes}
                                       : std::nullopt);
        connection->expect_response_to(post ? http::method::post : http::method::get);

        int error = co_await connection->send(wire, options.timeout);
        if (error == 0 && post) {
            error = co_await connection->send(run->body, options.timeout);
            if (error == 0) {
                report->body_bytes_sent += run->body.size();
            }
        }
        int status = 0;
        body.clear();
        while (error == 0) {
            const net::response_event event = co_await connection->next(options.timeout);
            if (event.what == net::response_event::kind::head) {
                status = connection->head().status;
            } else if (event.what == net::response_event::kind::body) {
                report->body_bytes_received += event.body.size();
                if (body.size() < kept_body_bytes) {
                    body.append(event.body.substr(0, kept_body_bytes - body.size()));
                }
            } else if (event.what == net::response_event::kind::complete) {
                break;
            } else {
                error = event.error < 0 ? event.error : -ECONNRESET;
            }
        }

        const clock_type::time_point finished = clock_type::now();
        if (error != 0) {
            count_failure(*report, error, false);
            report->over_time.record(finished - run->start, false);
        } else {
            const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(
                run->pace.latency(number, started, finished));
            report->latencies.record(static_cast<std::uint64_t>(latency.count()));
            report->count_response(status, body);
            report->over_time.record(finished - run->start, status >= 200 && status <= 299);
        }
        // A broken connection, or one the server is closing, is reopened by the next
        // request; this one is already counted.
        if (error != 0 || !connection->reusable()) {
            co_await connection->close();
            connection.reset();
        }
    }
    if (connection) {
        co_await connection->close();
    }
}

runtime::task<void> drive_thread(shared_run* run, load_report* report, std::uint32_t first,
                                 std::uint32_t count, std::uint64_t seed) {
    runtime::scope connections;
    for (std::uint32_t i = 0; i < count; ++i) {
        // Distinct seeds per connection so no two draw the same id sequence.
        connections.spawn(
            drive_connection(run, report, seed + 0x9E3779B97F4A7C15ULL * (first + i + 1)));
    }
    co_await connections.join();
}

void run_thread(shared_run* run, load_report* report, std::uint32_t first, std::uint32_t count,
                std::uint64_t seed) {
    runtime::reactor loop;
    loop.block_on(drive_thread(run, report, first, count, seed));
}

} // namespace

std::expected<load_report, std::string> run_load(const load_options& options) {
    auto where = net::endpoint::parse(options.url.authority);
    if (!where) {
        return std::unexpected("cannot resolve " + options.url.authority + ": " + where.error());
    }
    shared_run run;
    run.options = &options;
    run.where = *where;
    run.body.assign(options.body_bytes, 'b');

    const std::uint32_t threads = std::min(options.threads, options.connections);
    std::vector<load_report> reports(threads, load_report(options.timeline_bucket));
    std::vector<std::exception_ptr> failures(threads);
    std::vector<std::thread> others;
    const std::uint64_t seed = std::random_device{}();

    // Connections split as evenly as they go: the first C mod T threads get one more.
    std::vector<std::uint32_t> firsts(threads);
    std::vector<std::uint32_t> counts(threads);
    for (std::uint32_t t = 0, first = 0; t < threads; ++t) {
        firsts[t] = first;
        counts[t] = options.connections / threads + (t < options.connections % threads ? 1 : 0);
        first += counts[t];
    }

    run.start = clock_type::now();
    run.pace = pacer{run.start, options.rate};
    for (std::uint32_t t = 1; t < threads; ++t) {
        others.emplace_back([&run, &reports, &failures, &firsts, &counts, t, seed] {
            try {
                run_thread(&run, &reports[t], firsts[t], counts[t], seed);
            } catch (...) {
                failures[t] = std::current_exception();
            }
        });
    }
    try {
        run_thread(&run, &reports[0], firsts[0], counts[0], seed);
    } catch (...) {
        failures[0] = std::current_exception();
    }
    for (std::thread& other : others) {
        other.join();
    }
    const clock_type::duration elapsed = clock_type::now() - run.start;
    for (const std::exception_ptr& failure : failures) {
        if (failure) {
            std::rethrow_exception(failure);
        }
    }

    load_report merged = std::move(reports[0]);
    for (std::uint32_t t = 1; t < threads; ++t) {
        merged.merge(reports[t]);
    }
    merged.elapsed = elapsed;
    merged.latency = summarize(merged.latencies);
    return merged;
}

} // namespace loadgen
