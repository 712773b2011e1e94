#include "net/http_client.hpp"

#include <cerrno>
#include <utility>

#include <sys/socket.h>
#include <unistd.h>

#include "http/serializer.hpp"
#include "net/listener.hpp"
#include "runtime/io.hpp"

namespace net {

client_connection::client_connection(int fd)
    : fd_(fd), parser_(std::make_unique<http::response_parser>()) {}

runtime::task<std::expected<client_connection, int>> client_connection::open(const endpoint& where,
                                                                             milliseconds timeout) {
    const int fd = ::socket(where.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        co_return std::unexpected(-errno);
    }
    const endpoint target = where; // the kernel reads it while the connect is pending
    const int connected =
        co_await runtime::connect(fd, target.address(), target.length).with_timeout(timeout);
    if (connected < 0) {
        ::close(fd);
        co_return std::unexpected(connected);
    }
    set_no_delay(fd);
    co_return client_connection{fd};
}

runtime::task<int> client_connection::send(std::string_view bytes, milliseconds timeout) {
    co_return co_await runtime::send_all(fd_.get(), bytes, timeout);
}

void client_connection::expect_response_to(http::method method) {
    parser_->set_request_method(method);
    received_any_ = false;
    reusable_ = false;
    skipping_interim_ = false;
}

runtime::task<response_event> client_connection::next(milliseconds timeout,
                                                      runtime::cancel_slot* slot) {
    const std::chrono::nanoseconds receive_timeout = timeout == milliseconds::max()
                                                         ? std::chrono::nanoseconds::max()
                                                         : std::chrono::nanoseconds{timeout};
    for (;;) {
        if (need_bytes_ && input_.empty()) {
            lease_.release();
            if (at_eof_) {
                const http::parse_step last = parser_->finish();
                if (last.event == http::parse_event::message_complete) {
                    need_bytes_ = false;
                    reusable_ = false;
                    co_return response_event{response_event::kind::complete};
                }
                co_return response_event{response_event::kind::failed, {}, -ECONNRESET};
            }
            runtime::received got =
                co_await runtime::receive_some(fd_.get(), receive_timeout, slot);
            if (got.result == 0) {
                at_eof_ = true;
                continue;
            }
            if (got.result < 0) {
                co_return response_event{response_event::kind::failed, {}, got.result};
            }
            received_any_ = true;
            lease_ = std::move(got.buffer);
            input_ = lease_.view();
        }
        const http::parse_step step = parser_->feed(input_);
        input_.remove_prefix(step.consumed);
        need_bytes_ = step.event == http::parse_event::need_more;
        switch (step.event) {
        case http::parse_event::need_more:
            break;
        case http::parse_event::headers_complete:
            if (parser_->head().status == 101) {
                co_return response_event{response_event::kind::failed, {}, -EPROTO};
            }
            if (parser_->head().status < 200) {
                // 100 Continue and other interim answers: the final one follows.
                skipping_interim_ = true;
                break;
            }
            co_return response_event{response_event::kind::head};
        case http::parse_event::body:
            co_return response_event{response_event::kind::body, step.body};
        case http::parse_event::message_complete:
            if (std::exchange(skipping_interim_, false)) {
                break;
            }
            // Bytes after a complete response on an idle connection are a broken upstream.
            reusable_ = parser_->head().keep_alive && input_.empty() && !at_eof_;
            // An idle pooled connection must not pin a receive buffer of the worker.
            if (input_.empty()) {
                lease_.release();
                need_bytes_ = true;
            }
            co_return response_event{response_event::kind::complete};
        case http::parse_event::error:
            co_return response_event{response_event::kind::failed, {}, -EPROTO};
        }
    }
}

runtime::task<void> client_connection::close() {
    lease_.release();
    if (fd_) {
        co_await runtime::close(fd_.release());
    }
}

runtime::task<std::expected<fetched_response, int>> fetch_on(client_connection& connection,
                                                             const fetch_request& request,
                                                             milliseconds timeout,
                                                             std::size_t max_body) {
    std::string wire;
    std::vector<http::header_field> headers;
    headers.push_back({"Host", request.host});
    if (!request.content_type.empty()) {
        headers.push_back({"Content-Type", request.content_type});
    }
    headers.insert(headers.end(), request.headers.begin(), request.headers.end());
    const bool has_body =
        !request.body.empty() || request.method == "POST" || request.method == "PUT";
    http::append_request_head(wire, request.method, request.target, headers,
                              has_body ? std::optional<std::uint64_t>{request.body.size()}
                                       : std::nullopt);
    wire += request.body;
    connection.expect_response_to(request.method == "HEAD" ? http::method::head
                                                           : http::method::get);
    if (const int sent = co_await connection.send(wire, timeout); sent < 0) {
        co_return std::unexpected(sent);
    }
    fetched_response out;
    for (;;) {
        const response_event event = co_await connection.next(timeout);
        switch (event.what) {
        case response_event::kind::head:
            out.status = connection.head().status;
            break;
        case response_event::kind::body:
            if (out.body.size() + event.body.size() > max_body) {
                co_return std::unexpected(-EMSGSIZE);
            }
            out.body.append(event.body);
            break;
        case response_event::kind::complete:
            co_return out;
        case response_event::kind::failed:
            co_return std::unexpected(event.error);
        }
    }
}

runtime::task<std::expected<fetched_response, int>> fetch(const endpoint& where,
                                                          const fetch_request& request,
                                                          milliseconds timeout,
                                                          std::size_t max_body) {
    auto connection = co_await client_connection::open(where, timeout);
    if (!connection) {
        co_return std::unexpected(connection.error());
    }
    auto result = co_await fetch_on(*connection, request, timeout, max_body);
    co_await connection->close();
    co_return result;
}

} // namespace net
