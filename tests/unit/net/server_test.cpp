#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "http/serializer.hpp"
#include "net/http_client.hpp"
#include "net/http_server.hpp"
#include "net/listener.hpp"
#include "runtime/io.hpp"
#include "runtime/reactor.hpp"
#include "runtime/scope.hpp"

using namespace std::chrono_literals;
using runtime::task;

namespace {

// Streams every request's body and answers with what it read: "<pieces>:<bytes>".
class counting_handler final : public net::request_handler {
public:
    std::uint64_t body_limit(const http::request_head&) const override { return 1 << 20; }
    bool streams_body(const http::request_head&) const override { return true; }
    task<void> handle(net::request_context& request) override {
        std::size_t pieces = 0;
        std::size_t bytes = 0;
        for (;;) {
            const net::body_piece piece = co_await request.body_stream->read();
            if (piece.what == net::body_piece::kind::end) {
                break;
            }
            if (piece.what == net::body_piece::kind::failed) {
                request.keep_alive = false;
                co_return;
            }
            ++pieces;
            bytes += piece.bytes.size();
        }
        http::response_options options;
        options.keep_alive = request.keep_alive;
        http::append_response(request.out, options,
                              std::to_string(pieces) + ":" + std::to_string(bytes));
    }
};

struct served {
    counting_handler handler;
    net::http_server server;
    net::unique_fd listener;
    net::endpoint address;
    explicit served(net::server_limits limits) : server(handler, limits) {
        auto bound = net::listen_on(*net::endpoint::parse("127.0.0.1:0"));
        REQUIRE(bound);
        listener = std::move(*bound);
        address = *net::endpoint::of_socket(listener.get());
    }
};

task<std::string> body_of_answer(net::client_connection& client) {
    std::string body;
    for (;;) {
        const net::response_event event = co_await client.next(2000ms);
        if (event.what == net::response_event::kind::body) {
            body += event.body;
        } else if (event.what != net::response_event::kind::head) {
            break;
        }
    }
    co_return body;
}

} // namespace

TEST_CASE("a streamed body reaches the handler as it arrives, in pieces") {
    runtime::reactor loop;
    served s{net::server_limits{}};
    auto scenario = [](served* s) -> task<void> {
        runtime::scope group;
        group.spawn(s->server.serve(s->listener.get()));
        auto opened = co_await net::client_connection::open(s->address, 1000ms);
        REQUIRE(opened);
        net::client_connection client = std::move(*opened);
        client.expect_response_to(http::method::post);
        const int head_sent = co_await client.send(
            "POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234", 1000ms);
        CHECK(head_sent == 0);
        // The second half comes later, as its own piece.
        const int slept = co_await runtime::sleep_for(20ms);
        CHECK(slept == 0);
        const int rest_sent = co_await client.send("56789", 1000ms);
        CHECK(rest_sent == 0);
        const std::string answer = co_await body_of_answer(client);
        CHECK(answer == "2:10");
        co_await client.close();
        s->server.stop();
        co_await group.join();
    };
    loop.block_on(scenario(&s));
}

TEST_CASE("wake-up batching follows the number of open connections") {
    runtime::reactor loop;
    net::server_limits limits;
    limits.batch_waits_from = 2;
    served s{limits};
    auto scenario = [](served* s, runtime::reactor* r) -> task<void> {
        runtime::scope group;
        group.spawn(s->server.serve(s->listener.get()));
        auto first = co_await net::client_connection::open(s->address, 1000ms);
        REQUIRE(first);
        int slept = co_await runtime::sleep_for(20ms);
        CHECK(s->server.connections() == 1);
        CHECK_FALSE(r->batching_waits());
        auto second = co_await net::client_connection::open(s->address, 1000ms);
        REQUIRE(second);
        slept = co_await runtime::sleep_for(20ms);
        CHECK(s->server.connections() == 2);
        CHECK(r->batching_waits());
        co_await second->close();
        slept = co_await runtime::sleep_for(20ms);
        CHECK(slept == 0);
        CHECK(s->server.connections() == 1);
        CHECK_FALSE(r->batching_waits());
        co_await first->close();
        s->server.stop();
        co_await group.join();
    };
    loop.block_on(scenario(&s, &loop));
}

TEST_CASE("between requests a connection is a record: no workspace in use, no buffer") {
    runtime::reactor loop;
    served s{net::server_limits{}};
    auto scenario = [](served* s, runtime::reactor* r) -> task<void> {
        runtime::scope group;
        group.spawn(s->server.serve(s->listener.get()));
        auto opened = co_await net::client_connection::open(s->address, 1000ms);
        REQUIRE(opened);
        net::client_connection client = std::move(*opened);
        // Accepted and silent: idle from the start.
        int slept = co_await runtime::sleep_for(20ms);
        CHECK(s->server.stats().open == 1);
        CHECK(s->server.stats().idle == 1);
        client.expect_response_to(http::method::post);
        CHECK(co_await client.send("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc",
                                   1000ms) == 0);
        CHECK(co_await body_of_answer(client) == "1:3");
        slept = co_await runtime::sleep_for(20ms);
        CHECK(slept == 0);
        // Answered and kept alive: the workspace went back to the pool and the receive
        // buffer to the ring; the connection waits as a record again.
        CHECK(s->server.stats().idle == 1);
        CHECK(s->server.stats().workspaces == 1);
        CHECK(r->buffers(runtime::buffer_group::server).leased() == 0);
        // And the same connection serves the next request.
        client.expect_response_to(http::method::post);
        CHECK(co_await client.send("POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nxy",
                                   1000ms) == 0);
        CHECK(co_await body_of_answer(client) == "1:2");
        co_await client.close();
        slept = co_await runtime::sleep_for(20ms);
        CHECK(s->server.stats().open == 0);
        s->server.stop();
        co_await group.join();
    };
    loop.block_on(scenario(&s, &loop));
}

TEST_CASE("at max_connections the server stops accepting until a connection closes") {
    runtime::reactor loop;
    net::server_limits limits;
    limits.max_connections = 1;
    served s{limits};
    auto scenario = [](served* s) -> task<void> {
        runtime::scope group;
        group.spawn(s->server.serve(s->listener.get()));
        auto first = co_await net::client_connection::open(s->address, 1000ms);
        REQUIRE(first);
        int slept = co_await runtime::sleep_for(20ms);
        CHECK(s->server.stats().at_limit);
        // The kernel completes the second handshake (backlog), but nobody serves it yet.
        auto second = co_await net::client_connection::open(s->address, 1000ms);
        REQUIRE(second);
        second->expect_response_to(http::method::post);
        CHECK(co_await second->send("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nz",
                                    1000ms) == 0);
        slept = co_await runtime::sleep_for(50ms);
        CHECK(s->server.stats().accepted == 1);
        CHECK(s->server.stats().open == 1);
        co_await first->close();
        // The slot frees: the second is accepted and answered.
        CHECK(co_await body_of_answer(*second) == "1:1");
        CHECK(s->server.stats().accepted == 2);
        CHECK(s->server.stats().paused >= 1);
        co_await second->close();
        slept = co_await runtime::sleep_for(20ms);
        CHECK(slept == 0);
        s->server.stop();
        co_await group.join();
    };
    loop.block_on(scenario(&s));
}
