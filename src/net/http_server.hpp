#pragma once
// http_server: serves HTTP/1.1 on one listening socket from one reactor thread. Each
// accepted connection is a coroutine in the server's scope: it receives into leased
// buffers, parses with http::request_parser, hands each request to the request_handler,
// and writes answers in order (pipelined answers are batched into one send). A handler
// gets the body whole (up to its body_limit), or, for the routes it streams, pulls it
// piece by piece through request_body while it arrives. Enforces the limits of DESIGN.md: 431, 413,
// 400 (and close) from the parser; 408 and close when a request head does not arrive within
// header_timeout; idle keep-alive connections closed after idle_timeout. stop() stops accepting,
// closes idle connections at once, and lets requests in flight finish (answered with "Connection:
// close"). Per connection: one frame, an output string and the parser's arena, reused across
// requests.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/parse_step.hpp"
#include "http/request_head.hpp"
#include "runtime/acceptor.hpp"
#include "runtime/deadline_list.hpp"
#include "runtime/io.hpp"
#include "runtime/scope.hpp"
#include "runtime/task.hpp"

namespace net {

struct server_limits {
    std::chrono::milliseconds header_timeout{10'000};
    std::chrono::milliseconds idle_timeout{60'000};
    std::chrono::milliseconds send_timeout{30'000};
    http::parse_limits parse{};
    // From this many open connections on, the server's reactor batches its wake-ups
    // (runtime::reactor::batch_waits): with that many clients, throughput counts and a
    // few microseconds more per wait do not; below, a handful of fast clients would
    // wait on every step of their own requests. 0: never.
    std::size_t batch_waits_from = 0;
};

// One piece of a streamed request body (request_body::read).
struct body_piece {
    enum class kind : std::uint8_t { data, end, failed };
    kind what = kind::end;
    // kind::data: decoded body bytes (never empty), valid until the next read().
    std::string_view bytes;
    // kind::failed: the status to answer with (400 bad framing, 408 too slow, 413 too
    // large) and its reason, or 0 when the client is gone. The connection closes after
    // this request; every later read() fails the same way.
    int status = 0;
    std::string_view reason;
};

// The body of a streamed request, read as it arrives.
class request_body {
public:
    // The next piece of the body; `end` at once when the request has none. Call on the
    // connection's thread, one read at a time.
    virtual runtime::task<body_piece> read() = 0;

protected:
    ~request_body() = default;
};

// What a handler sees of one request, and where its answer goes.
struct request_context {
    const http::request_head& head;
    // The whole body, for routes that do not stream it (empty for those that do).
    std::string_view body;
    // Append exactly one complete response here (http::append_response...).
    std::string& out;
    // Whether the connection stays open after this answer; pass it on in the response
    // headers. A handler may set it to false to close after answering.
    bool keep_alive;
    int client_fd;
    std::string_view client_ip; // the peer's address, "" for Unix sockets
    std::chrono::milliseconds send_timeout;
    // Routes the handler streams (streams_body): the body, to read while answering. A
    // body the handler leaves unread is read and dropped after it returns.
    request_body* body_stream = nullptr;
};

// Sends and clears request.out now (a handler streaming a long answer). False when the
// client is gone or too slow; the handler should then stop and set keep_alive = false.
runtime::task<bool> flush_response(request_context& request);

class request_handler {
public:
    virtual ~request_handler() = default;
    // The body limit for a request whose head just arrived (413 above it).
    virtual std::uint64_t body_limit(const http::request_head& head) const;
    // Whether handle() reads this request's body through request_context::body_stream
    // (true) or gets it whole in request_context::body (false, the default).
    virtual bool streams_body(const http::request_head&) const { return false; }
    // Called when the server stops accepting; drain() is awaited once every connection
    // has closed, for the handler's own detached work. Both on the server's thread.
    virtual void on_stop() {}
    virtual runtime::task<void> drain() { co_return; }
    // Answers one request. Runs on the connection's thread; must not throw.
    virtual runtime::task<void> handle(request_context& request) = 0;
};

// Appends {"message": "<Error> ...", "status": "failure"} with `status`, closing.
void append_error_response(std::string& out, int status, std::string_view message,
                           bool keep_alive = false);

class http_server {
public:
    http_server(request_handler& handler, server_limits limits)
        : handler_(handler), limits_(limits) {}
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    // Accepts on `listen_fd` (owned by the caller) until stop(); completes once every
    // connection has closed.
    runtime::task<void> serve(int listen_fd);

    // Stops accepting and closes idle connections; requests in flight finish. Call on the
    // server's thread (post() it from elsewhere).
    void stop();

    std::size_t connections() const noexcept { return connections_.live(); }

private:
    class connection;

    runtime::task<void> serve_connection(int fd);

    request_handler& handler_;
    server_limits limits_;
    runtime::scope connections_;
    runtime::acceptor* acceptor_ = nullptr;
    connection* first_ = nullptr; // every open connection, for stop()
    std::size_t open_ = 0;
    bool stopping_ = false;
    // Receives wait without a kernel timeout each: their deadlines are in deadlines_ (one
    // timer per worker instead of one per receive). The sweeper runs in its own scope: it must
    // outlive the connections it times out.
    runtime::deadline_list deadlines_;
    runtime::scope timers_;
};

} // namespace net
