#pragma once
// One accepted connection of an http_server (internal to net/): the receive loop, the
// parser, the output and the timeouts of DESIGN.md's limits. It is also the request_body
// a streaming handler reads from: body pieces come straight out of the parser, as views
// into the leased receive buffer. Lives in the connection's coroutine frame, on the
// server's thread.

#include <chrono>
#include <string>
#include <string_view>

#include <netinet/in.h>

#include "http/request_parser.hpp"
#include "net/http_server.hpp"
#include "runtime/buffer_ring.hpp"

namespace net {

// Sends and clears `out`. False when the client is gone or too slow.
runtime::task<bool> send_and_clear(int fd, std::string& out, std::chrono::milliseconds timeout);

class http_server::connection final : public request_body {
public:
    connection(http_server& server, int fd);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // Serves requests until the client leaves, an error closes the connection or the
    // server stops; then closes the socket.
    runtime::task<void> run();

    runtime::task<body_piece> read() override;

    // Between requests, cancels the wait for the next one, so the connection closes (the
    // server is stopping). A request in progress is left to finish.
    void close_if_idle() {
        if (idle_ && receiving_ != nullptr) {
            receiving_->slot()->cancel();
        }
    }
    connection* next() const noexcept { return next_; }

private:
    using clock = std::chrono::steady_clock;

    // The parser's next event, receiving when it needs bytes. need_more means the
    // connection ended (closed, reset, timed out: see timed_out_).
    runtime::task<http::parse_step> next_step();
    // Flushes pending answers, then waits for bytes within the timeout that applies now.
    // False when the connection ended.
    runtime::task<bool> receive();
    // One request whose head just arrived. False when the connection must close.
    runtime::task<bool> serve_request();
    runtime::task<bool> flush();
    // Appends the JSON error answer for `status` (the connection closes after it).
    void answer_error(int status, std::string_view reason);

    http_server& server_;
    int fd_;
    // In the server's list of open connections; stop() cancels the receive of an idle one.
    connection* prev_ = nullptr;
    connection* next_ = nullptr;
    runtime::deadline_list::wait* receiving_ = nullptr;
    bool idle_ = false; // waiting between requests
    char client_ip_[INET6_ADDRSTRLEN] = {};
    http::request_parser parser_;
    std::string out_;
    std::string body_; // whole bodies of routes that do not stream, reused
    runtime::buffer_lease lease_;
    std::string_view input_;
    clock::time_point head_deadline_;
    bool first_request_ = true;
    bool head_done_ = false; // between headers_complete and the next request
    bool body_done_ = true;  // the current request's body was read to its end
    bool ended_ = false;     // no more bytes will come
    bool timed_out_ = false; // ... because a timeout expired
};

} // namespace net
