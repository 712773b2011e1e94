#include "net/server_connection.hpp"

#include <algorithm>
#include <cerrno>

#include <arpa/inet.h>
#include <sys/socket.h>

#include "net/listener.hpp"
#include "runtime/reactor.hpp"

namespace net {

using namespace std::chrono_literals;

namespace {
// The peer's IP address as text, once per connection (for X-Forwarded-For and keys).
void peer_address(int fd, char (&text)[INET6_ADDRSTRLEN]) {
    text[0] = '\0';
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0) {
        return;
    }
    if (peer.ss_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr, text, sizeof text);
    } else if (peer.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr, text, sizeof text);
    }
}

// Answers pipelined behind one another are flushed once this much is waiting.
constexpr std::size_t flush_threshold = 64 * 1024;
} // namespace

http_server::connection::connection(http_server& server, int fd)
    : server_(server), fd_(fd), parser_(server.limits_.parse) {
    // In the server's list, so that stop() can reach an idle connection's receive.
    next_ = server_.first_;
    if (server_.first_ != nullptr) {
        server_.first_->prev_ = this;
    }
    server_.first_ = this;
    if (++server_.open_ == server_.limits_.batch_waits_from) {
        runtime::reactor::current().batch_waits(true);
    }
}

http_server::connection::~connection() {
    if (server_.open_-- == server_.limits_.batch_waits_from) {
        runtime::reactor::current().batch_waits(false);
    }
    (prev_ != nullptr ? prev_->next_ : server_.first_) = next_;
    if (next_ != nullptr) {
        next_->prev_ = prev_;
    }
}

runtime::task<void> http_server::connection::run() {
    set_no_delay(fd_);
    peer_address(fd_, client_ip_);
    head_deadline_ = clock::now() + server_.limits_.header_timeout;
    for (;;) {
        const http::parse_step step = co_await next_step();
        if (step.event == http::parse_event::need_more) {
            // A head that did not arrive in time gets its answer; anything else just ends.
            if (timed_out_ && (parser_.in_message() || first_request_)) {
                answer_error(408, "Request header timeout");
            }
            break;
        }
        if (step.event == http::parse_event::error) {
            answer_error(parser_.error().status, parser_.error().reason);
            break;
        }
        // Between requests the parser's next event is always a head: serve_request reads
        // every body to its end.
        if (!co_await serve_request()) {
            break;
        }
    }
    if (!out_.empty()) {
        co_await flush();
    }
    lease_.release();
    co_await runtime::close(fd_);
}

runtime::task<bool> http_server::connection::serve_request() {
    head_done_ = true;
    body_done_ = false;
    const http::request_head& head = parser_.head();
    if (!parser_.set_body_limit(server_.handler_.body_limit(head))) {
        answer_error(413, "Request body too large");
        co_return false;
    }
    if (head.expect_continue) {
        out_ += "HTTP/1.1 100 Continue\r\n\r\n";
        if (!co_await flush()) {
            co_return false;
        }
    }
    const bool streamed = server_.handler_.streams_body(head);
    if (!streamed) {
        body_.clear();
        for (;;) {
            const body_piece piece = co_await read();
            if (piece.what == body_piece::kind::data) {
                body_ += piece.bytes;
            } else if (piece.what == body_piece::kind::end) {
                break;
            } else {
                if (piece.status != 0) {
                    answer_error(piece.status, piece.reason);
                }
                co_return false;
            }
        }
    }
    first_request_ = false;
    request_context request{head,
                            streamed ? std::string_view{} : std::string_view{body_},
                            out_,
                            head.keep_alive && !server_.stopping_,
                            fd_,
                            client_ip_,
                            server_.limits_.send_timeout,
                            streamed ? this : nullptr};
    co_await server_.handler_.handle(request);
    // A body the handler did not read is dropped, so that the next request parses.
    while (request.keep_alive && !body_done_) {
        if ((co_await read()).what == body_piece::kind::failed) {
            request.keep_alive = false;
        }
    }
    head_done_ = false;
    if (!request.keep_alive) {
        co_return false;
    }
    co_return out_.size() < flush_threshold || co_await flush();
}

runtime::task<body_piece> http_server::connection::read() {
    if (body_done_) {
        co_return body_piece{};
    }
    for (;;) {
        const http::parse_step step = co_await next_step();
        switch (step.event) {
        case http::parse_event::body:
            if (step.body.empty()) {
                continue;
            }
            co_return body_piece{body_piece::kind::data, step.body};
        case http::parse_event::message_complete:
            body_done_ = true;
            co_return body_piece{};
        case http::parse_event::error:
            co_return body_piece{
                body_piece::kind::failed, {}, parser_.error().status, parser_.error().reason};
        case http::parse_event::need_more:
            if (timed_out_) {
                co_return body_piece{body_piece::kind::failed, {}, 408, "Request body timeout"};
            }
            co_return body_piece{body_piece::kind::failed};
        case http::parse_event::headers_complete:
            break; // not within a body
        }
    }
}

runtime::task<http::parse_step> http_server::connection::next_step() {
    // NOTE: the parser must be fed again after every event, even with no input left:
    // only need_more means "wait for bytes".
    for (;;) {
        const http::parse_step step = parser_.feed(input_);
        input_.remove_prefix(step.consumed);
        if (step.event != http::parse_event::need_more || !co_await receive()) {
            co_return step;
        }
    }
}

runtime::task<bool> http_server::connection::receive() {
    lease_.release();
    input_ = {};
    if (ended_) {
        co_return false;
    }
    // Everything received is handled: answer before waiting for more bytes.
    if (!out_.empty() && !co_await flush()) {
        co_return false;
    }
    const bool between_requests = !parser_.in_message();
    if (server_.stopping_ && between_requests) {
        ended_ = true;
        co_return false;
    }
    const server_limits& limits = server_.limits_;
    std::chrono::nanoseconds timeout = limits.idle_timeout;
    if (!head_done_ && (!between_requests || first_request_)) {
        timeout = std::max<std::chrono::nanoseconds>(1ms, head_deadline_ - clock::now());
    }
    runtime::received got;
    {
        runtime::deadline_list::wait timed{server_.deadlines_, clock::now() + timeout};
        idle_ = between_requests;
        receiving_ = &timed;
        got = co_await runtime::receive_some(fd_, std::chrono::nanoseconds::max(), timed.slot());
        receiving_ = nullptr;
        idle_ = false;
        got.result = timed.outcome(got.result);
    }
    if (got.result <= 0) {
        // End of stream, reset, timeout or shutdown.
        ended_ = true;
        timed_out_ = got.result == -ETIMEDOUT;
        co_return false;
    }
    if (between_requests) {
        head_deadline_ = clock::now() + limits.header_timeout;
    }
    lease_ = std::move(got.buffer);
    input_ = lease_.view();
    co_return true;
}

runtime::task<bool> send_and_clear(int fd, std::string& out, std::chrono::milliseconds timeout) {
    const int sent = co_await runtime::send_all(fd, out, timeout);
    out.clear();
    co_return sent == 0;
}

runtime::task<bool> http_server::connection::flush() {
    return send_and_clear(fd_, out_, server_.limits_.send_timeout);
}

void http_server::connection::answer_error(int status, std::string_view reason) {
    std::string message = "<Error> ";
    message += reason;
    append_error_response(out_, status, message);
}

} // namespace net
