#include "net/server_connection.hpp"

#include <algorithm>
#include <cerrno>

#include "runtime/reactor.hpp"

namespace net {

using namespace std::chrono_literals;

namespace {
// Answers pipelined behind one another are flushed once this much is waiting.
constexpr std::size_t flush_threshold = 64 * 1024;
} // namespace

http_server::connection::connection(http_server& server, detail::client_record& record,
                                    detail::workspace& space, runtime::buffer_lease first)
    : server_(server), record_(record), space_(space), parser_(space.parser), out_(space.out),
      lease_(std::move(first)) {
    input_ = lease_.view();
    need_buffer_ = !lease_;
    client_ip_ = {space_.client_ip, record_.peer.format(space_.client_ip)};
    // A first request's head is due by the record's deadline (counted from the accept);
    // a later one's from its first bytes, which just arrived.
    head_deadline_ =
        record_.fresh ? record_.deadline : runtime::turn_time() + server_.limits_.header_timeout;
}

runtime::task<http_server::connection::ending> http_server::connection::run() {
    for (;;) {
        const http::parse_step step = co_await next_step();
        if (step.event == http::parse_event::need_more) {
            if (idle_) {
                co_return ending::idle;
            }
            // A head that did not arrive in time gets its answer; anything else just ends.
            if (timed_out_ && (parser_.in_message() || record_.fresh)) {
                ++server_.stats_.header_timeouts;
                answer_error(408, "Request header timeout");
            }
            break;
        }
        if (step.event == http::parse_event::error) {
            ++server_.stats_.rejected;
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
    // Bytes may still be on their way unless the client itself ended the stream.
    const bool client_ended = ended_ && !timed_out_;
    const ending how = unread_ && !client_ended && !taken_over_ ? ending::linger : ending::close;
    co_return how;
}

runtime::task<bool> http_server::connection::serve_request() {
    head_done_ = true;
    body_done_ = false;
    body_started_ = runtime::turn_time();
    body_received_ = 0;
    const http::request_head& head = parser_.head();
    if (!parser_.set_body_limit(server_.handler_.body_limit(head))) {
        ++server_.stats_.rejected;
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
        space_.body.clear();
        for (;;) {
            const body_piece piece = co_await read();
            if (piece.what == body_piece::kind::data) {
                space_.body += piece.bytes;
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
    record_.fresh = false;
    // An upgrade request's connection carries the new protocol or nothing: it is not kept
    // alive for another request whatever the handler answers.
    const bool upgrade = head.upgrade && head.method != http::method::connect;
    request_context request{head,
                            streamed ? std::string_view{} : std::string_view{space_.body},
                            out_,
                            head.keep_alive && !server_.stopping_ && !head.upgrade,
                            record_.fd,
                            client_ip_,
                            server_.limits_.send_timeout,
                            streamed ? this : nullptr,
                            upgrade ? this : nullptr,
                            &space_.scratch};
    co_await server_.handler_.handle(request);
    if (taken_over_) {
        co_return false; // an upgraded protocol ran on the socket: nothing more to parse
    }
    // A body the handler did not read is dropped, so that the next request parses (within
    // the body's own deadline).
    while (request.keep_alive && !body_done_) {
        if ((co_await read()).what == body_piece::kind::failed) {
            request.keep_alive = false;
        }
    }
    head_done_ = false;
    unread_ = !body_done_;
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
            {
                body_received_ += step.body.size();
                const http::request_head& head = parser_.head();
                const bool sized_done =
                    head.content_length && !head.chunked && body_received_ >= *head.content_length;
                body_piece piece{body_piece::kind::data, step.body};
                piece.more =
                    !sized_done && (input_.size() > http::max_chunk_framing || more_waiting_);
                co_return piece;
            }
        case http::parse_event::message_complete:
            body_done_ = true;
            // The body is over: the buffer goes back before the handler waits on anything.
            park();
            co_return body_piece{};
        case http::parse_event::error:
            co_return body_piece{
                body_piece::kind::failed, {}, parser_.error().status, parser_.error().reason};
        case http::parse_event::need_more:
            if (timed_out_) {
                ++server_.stats_.body_timeouts;
                co_return body_piece{body_piece::kind::failed, {}, 408, "Request body timeout"};
            }
            co_return body_piece{body_piece::kind::failed};
        case http::parse_event::headers_complete:
            break; // not within a body
        }
    }
}

void http_server::connection::park() {
    if (!lease_) {
        return; // the input is in the spill already, or there is none
    }
    if (!input_.empty()) {
        space_.spill.assign(input_);
        input_ = space_.spill;
    }
    lease_.release();
}

std::string http_server::connection::take_over() {
    // The request head is all the parser had to read: what follows is the new protocol's.
    taken_over_ = true;
    body_done_ = true;
    std::string rest(input_);
    input_ = {};
    space_.spill.clear();
    lease_.release();
    return rest;
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

http_server::connection::clock::time_point http_server::connection::body_deadline() const {
    const server_limits& limits = server_.limits_;
    if (limits.body_timeout.count() == 0) {
        return clock::time_point::max();
    }
    auto allowed = std::chrono::duration_cast<clock::duration>(limits.body_timeout);
    if (limits.body_min_rate > 0) {
        allowed += std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(
            static_cast<double>(body_received_) / static_cast<double>(limits.body_min_rate)));
    }
    return body_started_ + allowed;
}

runtime::task<bool> http_server::connection::receive() {
    lease_.release();
    input_ = {};
    space_.spill.clear();
    if (ended_) {
        co_return false;
    }
    // Everything received is handled: answer before waiting for more bytes.
    if (!out_.empty() && !co_await flush()) {
        co_return false;
    }
    const bool between_requests = !parser_.in_message();
    if (between_requests && server_.stopping_) {
        ended_ = true;
        co_return false;
    }
    if (between_requests && !need_buffer_) {
        // Nothing of a request is pending: the record waits for the next one, costing
        // neither a coroutine nor a workspace meanwhile.
        idle_ = true;
        co_return false;
    }
    const server_limits& limits = server_.limits_;
    const auto now = runtime::turn_time();
    clock::time_point deadline = now + limits.idle_timeout;
    if (!head_done_ && (!between_requests || record_.fresh)) {
        deadline = head_deadline_;
    } else if (head_done_ && !body_done_) {
        deadline = std::min(deadline, body_deadline());
    }
    runtime::received got;
    {
        runtime::deadline_list::wait timed{server_.deadlines_, std::max(deadline, now + 1ms)};
        runtime::buffer_ring& ring =
            runtime::reactor::current().buffers(runtime::buffer_group::server);
        got = co_await runtime::receive_some(record_.fd, ring, std::chrono::nanoseconds::max(),
                                             timed.slot());
        got.result = timed.outcome(got.result);
    }
    if (got.result <= 0) {
        // End of stream, reset, timeout or shutdown.
        ended_ = true;
        timed_out_ = got.result == -ETIMEDOUT;
        co_return false;
    }
    if (between_requests) {
        head_deadline_ = runtime::turn_time() + limits.header_timeout;
    }
    need_buffer_ = false;
    more_waiting_ = got.more;
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
    return send_and_clear(record_.fd, out_, server_.limits_.send_timeout);
}

void http_server::connection::answer_error(int status, std::string_view reason) {
    unread_ = true; // the connection closes before the rest of the request is read
    server_.handler_.append_error(out_, status, reason);
}

} // namespace net
