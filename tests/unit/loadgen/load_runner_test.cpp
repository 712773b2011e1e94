// lb-load's core against a real HTTP server in this process (a net::worker_pool thread on
// a loopback port the kernel picks): every request is counted once, ids come from the
// bodies, a server that closes connections is followed by reconnects, and an address
// nobody listens on yields connect errors instead of a hang.

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>

#include "http/serializer.hpp"
#include "loadgen/load_runner.hpp"
#include "net/worker_pool.hpp"
#include "json/json_writer.hpp"

namespace {

// Answers /home like lb-replica, with an id chosen by the X-Request-ID's parity (so two
// "servers" share the load), 404 elsewhere; closes every `close_every`-th connection
// after answering, to exercise the client's reconnects.
class two_server_handler : public net::request_handler {
public:
    two_server_handler(std::atomic<int>* requests_with_id, int close_every)
        : requests_with_id_(requests_with_id), close_every_(close_every) {}

    runtime::task<void> handle(net::request_context& request) override {
        http::response_options options;
        options.keep_alive = request.keep_alive;
        options.content_type = "application/json";
        if (++answered_ % close_every_ == 0) {
            options.keep_alive = false;
            request.keep_alive = false;
        }
        if (request.head.path != "/home") {
            options.status = 404;
            http::append_response(request.out, options, R"({"status": "failure"})");
            co_return;
        }
        const auto id = request.head.headers.find("X-Request-ID");
        std::string_view server = "ServerA";
        if (id) {
            requests_with_id_->fetch_add(1, std::memory_order_relaxed);
            if (!id->empty() && (id->back() - '0') % 2 == 1) {
                server = "ServerB";
            }
        }
        std::string body;
        json::append_status_message(body, "Hello from Server: " + std::string(server), true);
        http::append_response(request.out, options, body);
    }

private:
    std::atomic<int>* requests_with_id_;
    int close_every_;
    int answered_ = 0;
};

struct test_server {
    std::atomic<int> requests_with_id{0};
    std::unique_ptr<net::worker_pool> pool;

    explicit test_server(int close_every) {
        net::worker_pool_options options;
        options.threads = 1;
        options.listen = *net::endpoint::parse("127.0.0.1:0");
        pool = std::make_unique<net::worker_pool>(
            std::move(options), [this, close_every](std::size_t) {
                return std::make_unique<two_server_handler>(&requests_with_id, close_every);
            });
    }
    ~test_server() {
        pool->stop();
        pool->join();
    }
    std::string url(std::string_view path) const {
        return "http://" + pool->local_endpoint().to_string() + std::string(path);
    }
};

loadgen::load_options options_for(const std::string& url, std::uint64_t requests,
                                  std::uint32_t connections) {
    loadgen::load_options options;
    options.url = *loadgen::parse_http_url(url);
    options.requests = requests;
    options.connections = connections;
    options.timeout = std::chrono::milliseconds{2000};
    return options;
}

} // namespace

TEST_CASE("every request is answered and counted per server") {
    test_server server(1'000'000);
    const loadgen::load_options options = options_for(server.url("/home"), 2000, 8);
    const auto report = loadgen::run_load(options);
    REQUIRE(report);
    CHECK(report->requests == 2000);
    CHECK(report->responses == 2000);
    CHECK(report->ok == 2000);
    CHECK(report->errors.total() == 0);
    CHECK(report->per_status.at(200) == 2000);
    REQUIRE(report->per_server.size() == 2);
    CHECK(report->per_server.at("ServerA") + report->per_server.at("ServerB") == 2000);
    // Random ids: each parity gets roughly half (far outside 600..1400 is a broken RNG).
    CHECK(report->per_server.at("ServerA") > 600);
    CHECK(report->per_server.at("ServerB") > 600);
    CHECK(server.requests_with_id.load() == 2000);
    CHECK(report->latency.count == 2000);
    CHECK(report->latency.p50_us <= report->latency.p99_us);
    CHECK(report->latency.p99_us <= report->latency.max_us);
    std::uint64_t in_timeline = 0;
    for (const loadgen::timeline_bucket& bucket : report->over_time.buckets()) {
        in_timeline += bucket.ok + bucket.errors;
    }
    CHECK(in_timeline == 2000);
}

TEST_CASE("connections the server closes are reopened without errors") {
    test_server server(5);
    loadgen::load_options options = options_for(server.url("/home"), 500, 4);
    options.request_ids = loadgen::request_id_mode::none;
    options.threads = 2;
    const auto report = loadgen::run_load(options);
    REQUIRE(report);
    CHECK(report->ok == 500);
    CHECK(report->errors.total() == 0);
    CHECK(server.requests_with_id.load() == 0);
    CHECK(report->per_server.at("ServerA") == 500);
}

TEST_CASE("non-2xx answers are responses but not ok") {
    test_server server(1'000'000);
    const auto report = loadgen::run_load(options_for(server.url("/other"), 50, 2));
    REQUIRE(report);
    CHECK(report->responses == 50);
    CHECK(report->ok == 0);
    CHECK(report->per_status.at(404) == 50);
    CHECK(report->per_server.empty());
}

TEST_CASE("nobody listening: connect errors, no hang") {
    std::string url;
    {
        // A port that was just free: bound by a server that is gone again.
        test_server gone(1);
        url = gone.url("/home");
    }
    const auto report = loadgen::run_load(options_for(url, 20, 4));
    REQUIRE(report);
    CHECK(report->requests == 20);
    CHECK(report->ok == 0);
    CHECK(report->errors.connect == 20);
    CHECK(report->latency.count == 0);
}
