#pragma once
// http_server: serves HTTP/1.1 on one listening socket from one reactor thread.
//
// A connection costs what it uses (docs/design.md, "Budgets and admission control"):
//   - idle (accepted and silent, or between keep-alive requests) it is a client_record of
//     about 100 bytes with one receive armed in the kernel: no coroutine, no parser, no
//     buffer;
//   - when bytes arrive, a coroutine takes a workspace (parser, output and body strings)
//     from the server's pool, parses, hands each request to the request_handler and writes
//     the answers in order (pipelined answers batched into one send); once it is between
//     requests with nothing buffered, it gives the workspace back and the record waits
//     again.
// A received buffer is held only while its bytes are parsed: before the handler waits on
// anything of its own, the unread tail moves into the workspace (request_body::park).
//
// Limits (server_limits): at most max_connections open (then accepting pauses and new
// connections wait in the kernel's backlog until one closes); a request head within
// header_timeout (else 408); a body within body_timeout plus one second per body_min_rate
// bytes (else 408); idle keep-alive connections closed after idle_timeout; 400/413/431 and
// close from the parser. The error answers' bodies are the handler's (append_error).
//
// stop() stops accepting, closes idle connections at once and lets requests in flight
// finish (answered with "Connection: close"); abort() then ends whatever is left. One
// server per thread; everything here runs on that thread.

#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "http/parse_step.hpp"
#include "http/request_head.hpp"
#include "net/client_record.hpp"
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
    // After an answer that closes a connection while the client is still sending (an
    // error mid-request): how long what still arrives is read and dropped before the
    // socket closes (http_server::linger).
    std::chrono::milliseconds linger_timeout{2'000};
    // A request body must arrive within body_timeout, extended by one second for every
    // body_min_rate bytes received (mod_reqtimeout's MinRate): a large upload at a decent
    // rate goes through, a body trickled to hold the connection does not. Zero: no limit.
    std::chrono::milliseconds body_timeout{30'000};
    std::uint64_t body_min_rate = 64 * 1024;
    // Open connections at most; 0: no limit.
    std::size_t max_connections = 0;
    http::parse_limits parse{};
    // From this many open connections on, the server's reactor batches its wake-ups
    // (runtime::reactor::batch_waits): with that many clients, throughput counts and a
    // few microseconds more per wait do not; below, a handful of fast clients would
    // wait on every step of their own requests. 0: never.
    std::size_t batch_waits_from = 0;
};

// What the server counts; read on its thread (the admin endpoints copy it by message).
struct server_stats {
    std::size_t open = 0;       // connections accepted and not yet closed
    std::size_t idle = 0;       // ... of which waiting for a request, holding no workspace
    std::size_t workspaces = 0; // workspaces in use or pooled
    std::uint64_t accepted = 0; // connections accepted in all
    std::uint64_t paused = 0;   // times accepting paused at max_connections
    bool at_limit = false;      // accepting is paused right now
    std::uint64_t header_timeouts = 0;
    std::uint64_t body_timeouts = 0;
    std::uint64_t idle_closed = 0;  // keep-alive connections closed by the idle timeout
    std::uint64_t rejected = 0;     // requests refused by the parser (400, 413, 431, ...)
    std::uint64_t buffer_waits = 0; // receives that found every buffer leased
    std::size_t lingering = 0;      // connections answered and closing (linger_timeout)
};

// One piece of a streamed request body (request_body::read).
struct body_piece {
    enum class kind : std::uint8_t { data, end, failed };
    kind what = kind::end;
    // kind::data: decoded body bytes (never empty), valid until the next read() or park().
    std::string_view bytes;
    // kind::failed: the status to answer with (400 bad framing, 408 too slow, 413 too
    // large) and its reason, or 0 when the client is gone. The connection closes after
    // this request; every later read() fails the same way.
    int status = 0;
    std::string_view reason;
    // kind::data: more of the body is here already (buffered, or still in the socket), so
    // a sender may pass this piece on with MSG_MORE. Never set on a sized body's last piece.
    bool more = false;
};

// The body of a streamed request, read as it arrives.
class request_body {
public:
    // The next piece of the body; `end` at once when the request has none. Call on the
    // connection's thread, one read at a time. The receive buffer is given back once the
    // body ends.
    virtual runtime::task<body_piece> read() = 0;
    // Gives the receive buffer back now, keeping any unread bytes in the connection's own
    // storage; pieces read so far are no longer valid. Call before a wait that does not
    // depend on the client (for a replica, say) while the body has not ended.
    virtual void park() = 0;

protected:
    ~request_body() = default;
};

// An upgrade request's connection (Connection: upgrade): the handler may take it over once
// it has answered 101 Switching Protocols and flushed the answer.
class connection_handover {
public:
    // Returns the bytes the client sent after the request (the new protocol's first, to
    // pass on before anything else). From now on the server neither reads nor parses the
    // connection, and closes it once handle() returns.
    virtual std::string take_over() = 0;

protected:
    ~connection_handover() = default;
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
    // Requests with Connection: upgrade and an Upgrade field only (else null).
    connection_handover* handover = nullptr;
    // Two buffers of the handler's own, kept with the connection across its requests (a
    // reused capacity: building into them allocates nothing after the first requests).
    std::array<std::string, 2>* scratch = nullptr;
};

// Sends and clears request.out now (a handler streaming a long answer). False when the
// client is gone or too slow; the handler should then stop and set keep_alive = false.
runtime::task<bool> flush_response(request_context& request);
// The same, followed in one writev by `then` (a body piece sent from the buffer it was
// received into, say: no copy into request.out). Each view must stay valid until this
// completes. At most 8 views. `more`: more of the answer follows at once (MSG_MORE: the
// kernel may hold this part back to fill a whole segment with the next).
runtime::task<bool> flush_response(request_context& request, std::span<const std::string_view> then,
                                   bool more = false);

class http_server;

class request_handler {
public:
    virtual ~request_handler() = default;
    // The body limit for a request whose head just arrived (413 above it).
    virtual std::uint64_t body_limit(const http::request_head& head) const;
    // Whether handle() reads this request's body through request_context::body_stream
    // (true) or gets it whole in request_context::body (false, the default).
    virtual bool streams_body(const http::request_head&) const { return false; }
    // Appends the server's own error answer (408, 413, 400, ...), closing the connection.
    // The default body is the reason as plain text.
    virtual void append_error(std::string& out, int status, std::string_view reason) const;
    // Called when serve() starts, with the server (for its stats).
    virtual void on_serve(const http_server&) {}
    // Called when the server stops accepting; drain() is awaited once every connection
    // has closed, for the handler's own detached work. Both on the server's thread.
    virtual void on_stop() {}
    // The server is aborting (its drain time is over): end every wait of the handler's
    // own (upstream answers, queues) now.
    virtual void abort() {}
    virtual runtime::task<void> drain() { co_return; }
    // Answers one request. Runs on the connection's thread; must not throw.
    virtual runtime::task<void> handle(request_context& request) = 0;
};

class http_server {
public:
    http_server(request_handler& handler, server_limits limits)
        : handler_(handler), limits_(limits) {}
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;
    ~http_server();

    // Accepts on `listen_fd` (owned by the caller) until stop(); completes once every
    // connection has closed.
    runtime::task<void> serve(int listen_fd);

    // Stops accepting and closes idle connections; requests in flight finish. Call on the
    // server's thread (post() it from elsewhere).
    void stop();
    // After stop(): ends the requests still in flight now (their sockets are shut down
    // and every wait of theirs is cancelled), so that serve() completes.
    void abort();

    std::size_t connections() const noexcept { return stats_.open; }
    const server_stats& stats() const noexcept { return stats_; }
    const server_limits& limits() const noexcept { return limits_; }

private:
    class connection;

    void open_record(int fd);
    // Arms the receive of a record that waits for its (next) request.
    void wait_for_request(detail::client_record* record);
    static void on_receive(runtime::completion* self, int result, std::uint32_t flags);
    runtime::task<void> serve_record(detail::client_record* record);
    // The record's receive ended without bytes: answer 408 if a first head timed out, close.
    runtime::task<void> close_silent(detail::client_record* record);
    // Shuts the write side of `fd` and drops what the client still sends, up to
    // limits_.linger_timeout; the caller closes `fd` afterwards.
    runtime::task<void> linger(int fd);
    void free_record(detail::client_record* record);
    runtime::task<void> expire_idle(std::chrono::milliseconds period);

    detail::workspace* take_workspace();
    void give_back(detail::workspace* space);

    request_handler& handler_;
    server_limits limits_;
    server_stats stats_;
    runtime::scope connections_;
    runtime::acceptor* acceptor_ = nullptr;
    std::coroutine_handle<> capacity_waiter_; // the accept loop, paused at the limit
    bool stopping_ = false;

    detail::record_pool records_;
    // Records waiting for a first request (header_timeout) and for a next one
    // (idle_timeout): each FIFO is in deadline order, so expiry looks at heads only.
    detail::record_list fresh_;
    detail::record_list idle_;
    detail::record_list busy_; // records whose connection coroutine runs (abort reaches them)
    detail::workspace_pool workspaces_;

    // Receives of connections in a request wait without a kernel timeout each: their
    // deadlines are in deadlines_ (one timer per worker instead of one per receive). The
    // sweepers run in their own scope: they must outlive the connections they time out.
    runtime::deadline_list deadlines_;
    runtime::cancel_slot expiry_sleep_;
    // Where lingering connections' bytes go: they are dropped, so all share it.
    std::array<char, 4096> discard_{};
    runtime::scope timers_;
};

} // namespace net
