// lb-replica's GET /ws: a WebSocket echo (RFC 6455), for tests and demos of tunnels
// through lbd. Text and binary messages come back as they were sent (frame by frame, so
// fragmented messages come back fragmented alike), pings get their pong, a close its
// close. The 101 answer names the replica (X-Server-ID), so a client can tell which
// replica its key reached.

#include "api/answer.hpp"
#include "http/header_list.hpp"
#include "http/serializer.hpp"
#include "replica/replica_handler.hpp"
#include "replica/websocket.hpp"
#include "runtime/io.hpp"
#include "runtime/reactor.hpp"

namespace replica {

namespace {
constexpr std::chrono::minutes echo_idle_timeout{10};

// The close frame's payload: the status code, big-endian.
std::string close_payload(std::uint16_t code) {
    return {static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
}

// Echoes until the client closes, breaks the protocol or goes quiet.
runtime::task<void> echo(int fd, std::string first) {
    ws_frame_parser parser;
    parser.feed(first);
    runtime::buffer_ring& ring = runtime::reactor::current().buffers(runtime::buffer_group::server);
    std::string out;
    for (;;) {
        bool closing = false;
        while (auto frame = parser.next()) {
            switch (frame->opcode) {
            case ws_opcode::close:
                append_ws_frame(out, ws_opcode::close, frame->payload.substr(0, 2));
                closing = true;
                break;
            case ws_opcode::ping:
                append_ws_frame(out, ws_opcode::pong, frame->payload);
                break;
            case ws_opcode::pong:
                break;
            default:
                append_ws_frame(out, frame->opcode, frame->payload, frame->fin);
            }
            if (closing) {
                break;
            }
        }
        if (parser.error() != 0) {
            append_ws_frame(out, ws_opcode::close, close_payload(parser.error()));
            closing = true;
        }
        if (!out.empty()) {
            if (co_await runtime::send_all(fd, out) != 0) {
                co_return;
            }
            out.clear();
        }
        if (closing) {
            co_return;
        }
        const runtime::received got = co_await runtime::receive_some(fd, ring, echo_idle_timeout);
        if (got.result <= 0) {
            co_return;
        }
        parser.feed(got.buffer.view());
    }
}
} // namespace

runtime::task<void> replica_handler::websocket(net::request_context& request) {
    const http::request_head& head = request.head;
    http::response_options options;
    options.version = head.version;
    const auto key = head.headers.find("Sec-WebSocket-Key");
    const bool websocket_upgrade =
        request.handover != nullptr && head.method == http::method::get && key &&
        http::iequals(head.headers.find("Upgrade").value_or(""), "websocket");
    if (!websocket_upgrade) {
        options.status = 400;
        api::append_failure(request.out, options,
                            "<Error> /ws takes a WebSocket handshake: GET with Connection: "
                            "Upgrade, Upgrade: websocket and Sec-WebSocket-Key");
        co_return;
    }
    if (head.headers.find("Sec-WebSocket-Version").value_or("") != "13") {
        static constexpr http::header_field version[] = {{"Sec-WebSocket-Version", "13"}};
        options.status = 426;
        options.extra_headers = version;
        api::append_failure(request.out, options, "<Error> WebSocket version 13 only");
        co_return;
    }
    http::append_status_line(request.out, 101);
    http::append_header(request.out, "Upgrade", "websocket");
    http::append_header(request.out, "Connection", "Upgrade");
    http::append_header(request.out, "Sec-WebSocket-Accept", websocket_accept(*key));
    http::append_header(request.out, "X-Server-ID", server_id_);
    request.out += "\r\n";
    if (!co_await net::flush_response(request)) {
        co_return;
    }
    co_await echo(request.client_fd, request.handover->take_over());
}

} // namespace replica
