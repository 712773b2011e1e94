// The proxy path alone: one worker's balancer_handler, in this thread, in front of scripted
// fake upstreams, with a fake control thread (control_link). No lbd process, no control
// plane, no replicas: every answer and every failure is chosen by the test.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <sys/socket.h>

#include "balancer/balancer_handler.hpp"
#include "net/http_client.hpp"
#include "net/http_server.hpp"
#include "net/listener.hpp"
#include "runtime/acceptor.hpp"
#include "runtime/io.hpp"
#include "runtime/reactor.hpp"
#include "runtime/scope.hpp"

using namespace balancer;
using namespace std::chrono_literals;
using runtime::task;

namespace {

// An upstream whose every connection reads one request and then does what `act` says.
struct fake_upstream {
    enum class act { answer, close, reset_mid_answer, stall };
    act what = act::answer;
    std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    std::string reply_part = "part";   // reset_mid_answer: the body sent before the reset
    std::vector<std::string> requests; // each request as it arrived, head and body
    net::unique_fd listener;
    net::endpoint address;
    std::unique_ptr<runtime::acceptor> acceptor;
    runtime::scope connections;
    runtime::cancel_slot stall;

    fake_upstream() {
        auto bound = net::listen_on(*net::endpoint::parse("127.0.0.1:0"));
        REQUIRE(bound);
        listener = std::move(*bound);
        address = *net::endpoint::of_socket(listener.get());
        acceptor = std::make_unique<runtime::acceptor>(listener.get());
    }

    static task<void> accept_loop(fake_upstream* self) {
        for (;;) {
            const int fd = co_await self->acceptor->next();
            if (fd < 0) {
                co_return;
            }
            self->connections.spawn(serve_one(self, fd));
        }
    }

    static task<void> serve_one(fake_upstream* self, int fd) {
        std::string request;
        char buffer[4096];
        std::size_t want = std::string::npos;
        while (want == std::string::npos || request.size() < want) {
            const int n = co_await runtime::read_some(fd, buffer, sizeof buffer);
            if (n <= 0) {
                co_await runtime::close(fd);
                co_return;
            }
            request.append(buffer, static_cast<std::size_t>(n));
            if (const auto end = request.find("\r\n\r\n");
                want == std::string::npos && end != std::string::npos) {
                std::size_t length = 0;
                if (const auto at = request.find("Content-Length: "); at != std::string::npos) {
                    length = std::stoul(request.substr(at + 16));
                }
                want = end + 4 + length;
            }
        }
        self->requests.push_back(request);
        switch (self->what) {
        case act::answer:
            co_await runtime::send_all(fd, self->reply);
            break;
        case act::close:
            break;
        case act::reset_mid_answer: {
            const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " +
                                     std::to_string(self->reply_part.size() + 100) + "\r\n\r\n";
            co_await runtime::send_all(fd, head + self->reply_part);
            const linger hard{1, 0}; // close with a reset
            ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
            break;
        }
        case act::stall:
            co_await runtime::sleep_for(5s).with_cancel(&self->stall);
            break;
        }
        co_await runtime::close(fd);
    }

    task<void> stop() {
        stall.cancel();
        co_await acceptor->stop();
        co_await connections.join();
    }
};

// The control thread, faked: records reports and answers /add and /rm with a canned answer.
struct fake_control final : control_link {
    std::vector<std::string> suspects;
    std::vector<bool> changes; // true for /add
    std::vector<std::optional<std::uint64_t>> ns;
    void report_suspect(std::string name) override { suspects.push_back(std::move(name)); }
    task<api_answer> change(bool add, json::control_payload_result payload, bool) override {
        changes.push_back(add);
        ns.push_back(payload.payload.n);
        co_return api_answer{200, R"({"message":"changed","status":"successful"})"};
    }
};

// A table over `upstreams` named S1, S2, ... with the given routable flags.
std::shared_ptr<const routing_table> table_of(const std::vector<fake_upstream*>& upstreams,
                                              std::vector<std::uint8_t> routable) {
    hashing::membership members;
    for (std::size_t i = 0; i < upstreams.size(); ++i) {
        members.push_back({"S" + std::to_string(i + 1), i + 1, 1});
    }
    hashing::ring_params params;
    params.algorithm = hashing::algorithm_kind::rendezvous;
    auto ring = hashing::ring_snapshot::build(members, params, 1);
    REQUIRE(ring);
    routing_table table;
    table.ring = *ring;
    table.targets.resize(upstreams.size());
    for (std::size_t i = 0; i < upstreams.size(); ++i) {
        const std::size_t at = (*ring)->find("S" + std::to_string(i + 1));
        table.targets[at] = {"S" + std::to_string(i + 1), upstreams[i]->address,
                             upstreams[i]->address.to_string()};
        table.routable.push_back(0);
    }
    for (std::size_t i = 0; i < upstreams.size(); ++i) {
        table.routable[(*ring)->find("S" + std::to_string(i + 1))] = routable[i];
    }
    table.any_routable = std::find(routable.begin(), routable.end(), 1) != routable.end();
    for (std::size_t i = 0; i < upstreams.size(); ++i) {
        table.listed.push_back("S" + std::to_string(i + 1));
    }
    table.generation = 1;
    return std::make_shared<const routing_table>(std::move(table));
}

balancer_config test_config() {
    balancer_config config;
    config.threads = 1;
    config.connect_timeout = 500ms;
    config.response_timeout = 300ms;
    config.key = *key_source::parse("header:X-Key");
    return config;
}

// One worker in front of the upstreams, served on 127.0.0.1; run() drives a scenario.
struct worker {
    balancer_config config;
    fake_control control;
    std::unique_ptr<balancer_handler> handler;
    std::unique_ptr<net::http_server> server;
    net::unique_fd listener;
    net::endpoint address;

    worker(balancer_config c, std::shared_ptr<const routing_table> table) : config(std::move(c)) {
        handler = std::make_unique<balancer_handler>(config, control, std::move(table));
        server = std::make_unique<net::http_server>(*handler, net::server_limits{});
        auto bound = net::listen_on(*net::endpoint::parse("127.0.0.1:0"));
        REQUIRE(bound);
        listener = std::move(*bound);
        address = *net::endpoint::of_socket(listener.get());
    }
};

using scenario = std::function<task<void>(worker&)>;

void run(worker& w, const std::vector<fake_upstream*>& upstreams, scenario body) {
    runtime::reactor& loop = runtime::reactor::current();
    auto driver = [](worker* w, std::vector<fake_upstream*> upstreams,
                     scenario body) -> task<void> {
        runtime::scope group;
        for (auto* upstream : upstreams) {
            group.spawn(fake_upstream::accept_loop(upstream));
        }
        group.spawn(w->server->serve(w->listener.get()));
        co_await body(*w);
        w->server->stop();
        for (auto* upstream : upstreams) {
            co_await upstream->stop();
        }
        co_await group.join();
        co_await w->handler->drain();
    };
    loop.block_on(driver(&w, upstreams, std::move(body)));
}

task<std::expected<net::fetched_response, int>>
get(const net::endpoint& where, std::string_view key, std::string_view target = "/x") {
    const http::header_field headers[] = {{"X-Key", key}};
    co_return co_await net::fetch(where, {.target = target, .headers = headers}, 3000ms);
}

} // namespace

TEST_CASE("proxy: a request reaches its replica with forwarding headers; the answer comes back") {
    runtime::reactor loop;
    fake_upstream one;
    worker w{test_config(), table_of({&one}, {1})};
    run(w, {&one}, [&](worker& w) -> task<void> {
        auto answer = co_await get(w.address, "k1", "/hello?x=1");
        REQUIRE(answer);
        CHECK(answer->status == 200);
        CHECK(answer->body == "ok");
    });
    REQUIRE(one.requests.size() == 1);
    CHECK(one.requests[0].starts_with("GET /hello?x=1 HTTP/1.1\r\n"));
    CHECK(one.requests[0].find("X-Forwarded-For: 127.0.0.1\r\n") != std::string::npos);
    CHECK(one.requests[0].find("X-Key: k1\r\n") != std::string::npos);
}

TEST_CASE("proxy: a replica that is down is skipped; none routable is a 503 that says so") {
    runtime::reactor loop;
    fake_upstream one;
    fake_upstream two;
    SECTION("one down") {
        worker w{test_config(), table_of({&one, &two}, {0, 1})};
        run(w, {&one, &two}, [&](worker& w) -> task<void> {
            for (int i = 0; i < 20; ++i) {
                auto answer = co_await get(w.address, "key" + std::to_string(i));
                REQUIRE(answer);
                CHECK(answer->status == 200);
            }
        });
        CHECK(one.requests.empty());
        CHECK(two.requests.size() == 20);
    }
    SECTION("all down") {
        worker w{test_config(), table_of({&one, &two}, {0, 0})};
        run(w, {&one, &two}, [&](worker& w) -> task<void> {
            auto answer = co_await get(w.address, "k");
            REQUIRE(answer);
            CHECK(answer->status == 503);
            CHECK(answer->body ==
                  "{\"message\":\"<Error> No replicas available\",\"status\":\"failure\"}\n");
        });
        CHECK(one.requests.empty());
        CHECK(two.requests.empty());
    }
}

TEST_CASE("proxy: a replica that closes without answering is reported; a GET goes to the next") {
    runtime::reactor loop;
    fake_upstream one;
    fake_upstream two;
    one.what = fake_upstream::act::close;
    two.what = fake_upstream::act::close;
    worker w{test_config(), table_of({&one, &two}, {1, 1})};
    run(w, {&one, &two}, [&](worker& w) -> task<void> {
        // Both fail: one retry, then 502 naming the second replica tried.
        auto answer = co_await get(w.address, "k");
        REQUIRE(answer);
        CHECK(answer->status == 502);
        CHECK(answer->body.find("is unreachable") != std::string::npos);
        // The first now answers: the next request is served.
        two.what = fake_upstream::act::answer;
        one.what = fake_upstream::act::answer;
        auto again = co_await get(w.address, "k");
        REQUIRE(again);
        CHECK(again->status == 200);
    });
    CHECK(one.requests.size() + two.requests.size() == 3);
    REQUIRE(w.control.suspects.size() == 2);
    CHECK(w.control.suspects[0] != w.control.suspects[1]);
}

TEST_CASE("proxy: a reset in the middle of an answer is a 502, or a cut once the head is out") {
    runtime::reactor loop;
    fake_upstream one;
    one.what = fake_upstream::act::reset_mid_answer;
    SECTION("nothing sent to the client yet") {
        worker w{test_config(), table_of({&one}, {1})};
        run(w, {&one}, [&](worker& w) -> task<void> {
            auto answer = co_await get(w.address, "k");
            REQUIRE(answer);
            CHECK(answer->status == 502);
            CHECK(answer->body == "{\"message\":\"<Error> Replica 'S1' broke its response\","
                                  "\"status\":\"failure\"}\n");
        });
        CHECK(w.control.suspects == std::vector<std::string>{"S1"});
    }
    SECTION("part of the body sent already") {
        one.reply_part = std::string(200'000, 'p'); // more than the proxy holds back
        worker w{test_config(), table_of({&one}, {1})};
        run(w, {&one}, [&](worker& w) -> task<void> {
            // The client sees a cut answer, never a second one.
            auto answer = co_await get(w.address, "k");
            CHECK_FALSE(answer);
        });
        CHECK(w.control.suspects == std::vector<std::string>{"S1"});
    }
}

TEST_CASE("proxy: a replica slower than the response timeout is a 504") {
    runtime::reactor loop;
    fake_upstream one;
    one.what = fake_upstream::act::stall;
    worker w{test_config(), table_of({&one}, {1})};
    run(w, {&one}, [&](worker& w) -> task<void> {
        auto answer = co_await get(w.address, "k");
        REQUIRE(answer);
        CHECK(answer->status == 504);
        CHECK(answer->body == "{\"message\":\"<Error> Replica 'S1' did not answer in time\","
                              "\"status\":\"failure\"}\n");
    });
}

TEST_CASE("proxy: a POST body reaches the replica whole") {
    runtime::reactor loop;
    fake_upstream one;
    worker w{test_config(), table_of({&one}, {1})};
    const std::string body(100'000, 'b');
    run(w, {&one}, [&](worker& w) -> task<void> {
        auto answer = co_await net::fetch(
            w.address, {.method = "POST", .target = "/up", .body = body}, 3000ms);
        REQUIRE(answer);
        CHECK(answer->status == 200);
    });
    REQUIRE(one.requests.size() == 1);
    CHECK(one.requests[0].ends_with("\r\n\r\n" + body));
}

TEST_CASE("control paths: /rep from the table; /add and /rm behind --control-from and the token") {
    runtime::reactor loop;
    fake_upstream one;
    balancer_config config = test_config();
    SECTION("open") {
        worker w{config, table_of({&one}, {1})};
        run(w, {&one}, [&](worker& w) -> task<void> {
            auto rep = co_await net::fetch(w.address, {.target = "/rep"}, 3000ms);
            REQUIRE(rep);
            CHECK(rep->body ==
                  "{\"message\":{\"N\":1,\"replicas\":[\"S1\"]},\"status\":\"successful\"}\n");
            auto add = co_await net::fetch(
                w.address, {.method = "POST", .target = "/add", .body = R"({"n": 2})"}, 3000ms);
            REQUIRE(add);
            CHECK(add->status == 200);
        });
        CHECK(w.control.changes == std::vector<bool>{true});
        CHECK(w.control.ns == std::vector<std::optional<std::uint64_t>>{2});
    }
    SECTION("outside --control-from") {
        config.control_from.push_back(*net::cidr::parse("10.0.0.0/8"));
        worker w{config, table_of({&one}, {1})};
        run(w, {&one}, [&](worker& w) -> task<void> {
            auto rm = co_await net::fetch(w.address, {.method = "DELETE", .target = "/rm"}, 3000ms);
            REQUIRE(rm);
            CHECK(rm->status == 403);
            CHECK(rm->body.find("--control-from") != std::string::npos);
            // /rep stays open to everyone.
            auto rep = co_await net::fetch(w.address, {.target = "/rep"}, 3000ms);
            REQUIRE(rep);
            CHECK(rep->status == 200);
        });
        CHECK(w.control.changes.empty());
    }
    SECTION("inside --control-from, with the token") {
        config.control_from.push_back(*net::cidr::parse("127.0.0.0/8"));
        config.admin_token = "s3cret";
        worker w{config, table_of({&one}, {1})};
        run(w, {&one}, [&](worker& w) -> task<void> {
            const http::header_field wrong[] = {{"Authorization", "Bearer s3creT"}};
            auto refused = co_await net::fetch(
                w.address, {.method = "POST", .target = "/add", .headers = wrong}, 3000ms);
            REQUIRE(refused);
            CHECK(refused->status == 401);
            const http::header_field longer[] = {{"Authorization", "Bearer s3cret2"}};
            auto too_long = co_await net::fetch(
                w.address, {.method = "POST", .target = "/add", .headers = longer}, 3000ms);
            REQUIRE(too_long);
            CHECK(too_long->status == 401);
            const http::header_field right[] = {{"Authorization", "Bearer s3cret"}};
            auto added = co_await net::fetch(
                w.address, {.method = "POST", .target = "/add", .headers = right}, 3000ms);
            REQUIRE(added);
            CHECK(added->status == 200);
        });
        CHECK(w.control.changes == std::vector<bool>{true});
    }
}

namespace {
// One raw request through the worker: the response head's fields, in order.
struct raw_answer {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::optional<std::string> header(std::string_view name) const {
        for (const auto& [n, v] : headers) {
            if (http::iequals(n, name)) {
                return v;
            }
        }
        return std::nullopt;
    }
};

task<raw_answer> exchange(const net::endpoint& where, std::string request) {
    raw_answer out;
    auto opened = co_await net::client_connection::open(where, 2000ms);
    REQUIRE(opened);
    net::client_connection connection = std::move(*opened);
    REQUIRE(co_await connection.send(request, 2000ms) == 0);
    connection.expect_response_to(http::method::get);
    for (;;) {
        const net::response_event event = co_await connection.next(3000ms);
        if (event.what == net::response_event::kind::head) {
            out.status = connection.head().status;
            for (const auto& field : connection.head().headers) {
                out.headers.emplace_back(std::string(field.name), std::string(field.value));
            }
        } else if (event.what == net::response_event::kind::body) {
            out.body += event.body;
        } else {
            break;
        }
    }
    co_await connection.close();
    co_return out;
}
} // namespace

TEST_CASE("proxy: forwarding headers are joined and added; Via both ways") {
    runtime::reactor loop;
    fake_upstream one;
    one.reply = "HTTP/1.1 200 OK\r\nVia: 1.1 cache\r\nContent-Length: 2\r\n\r\nok";
    worker w{test_config(), table_of({&one}, {1})};
    raw_answer answer;
    run(w, {&one}, [&](worker& w) -> task<void> {
        answer = co_await exchange(
            w.address, "GET /x HTTP/1.1\r\nHost: shop.example\r\n"
                       "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2, 10.0.0.3\r\n"
                       "Via: 1.0 edge\r\nConnection: close\r\n\r\n");
    });
    REQUIRE(one.requests.size() == 1);
    const std::string& sent = one.requests[0];
    CHECK(sent.find("X-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1\r\n") !=
          std::string::npos);
    CHECK(sent.find("X-Forwarded-Proto: http\r\n") != std::string::npos);
    CHECK(sent.find("X-Forwarded-Host: shop.example\r\n") != std::string::npos);
    CHECK(sent.find("Via: 1.0 edge, 1.1 lbd\r\n") != std::string::npos);
    CHECK(sent.find("Host: shop.example\r\n") != std::string::npos);
    CHECK(answer.status == 200);
    CHECK(answer.header("Via") == "1.1 cache, 1.1 lbd");
    CHECK(answer.body == "ok");
}

TEST_CASE("proxy: a 204 or 304 from a replica goes on without its Content-Length") {
    runtime::reactor loop;
    const int status = GENERATE(204, 304);
    fake_upstream one;
    one.reply = "HTTP/1.1 " + std::to_string(status) +
                (status == 204 ? " No Content" : " Not Modified") +
                "\r\nContent-Length: 7\r\nETag: \"v1\"\r\n\r\n";
    worker w{test_config(), table_of({&one}, {1})};
    raw_answer answer;
    run(w, {&one}, [&](worker& w) -> task<void> {
        answer = co_await exchange(w.address, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    });
    CHECK(answer.status == status);
    CHECK_FALSE(answer.header("Content-Length"));
    CHECK(answer.header("ETag") == "\"v1\"");
}
