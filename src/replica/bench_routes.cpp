// lb-replica's routes for benchmarks of large bodies through lbd: GET /bytes/N answers N
// bytes (streamed out 64 KiB at a time, never held whole) and POST /sink reads a body of
// any size as it arrives and answers how much it got.

#include <charconv>

#include "api/answer.hpp"
#include "http/serializer.hpp"
#include "replica/replica_handler.hpp"

namespace replica {

namespace {
constexpr std::size_t piece_bytes = 64 * 1024;
} // namespace

runtime::task<void> replica_handler::bytes(net::request_context& request, std::string_view count) {
    http::response_options options;
    options.keep_alive = request.keep_alive;
    options.version = request.head.version;
    std::uint64_t n = 0;
    const auto [end, error] = std::from_chars(count.data(), count.data() + count.size(), n);
    if (error != std::errc{} || end != count.data() + count.size() || n > max_bytes) {
        options.status = 400;
        api::append_failure(request.out, options,
                            "<Error> /bytes/N takes N from 0 to " + std::to_string(max_bytes));
        co_return;
    }
    options.content_type = "application/octet-stream";
    http::append_response_head(request.out, options, n);
    static const std::string piece(piece_bytes, 'x');
    while (n > 0 && request.head.method != http::method::head) {
        const std::size_t now = static_cast<std::size_t>(std::min<std::uint64_t>(n, piece_bytes));
        request.out.append(piece, 0, now);
        n -= now;
        if (!co_await net::flush_response(request)) {
            request.keep_alive = false;
            co_return;
        }
    }
}

runtime::task<void> replica_handler::sink(net::request_context& request) {
    http::response_options options;
    options.keep_alive = request.keep_alive;
    options.version = request.head.version;
    std::uint64_t received = 0;
    for (;;) {
        const net::body_piece piece = co_await request.body_stream->read();
        if (piece.what == net::body_piece::kind::end) {
            break;
        }
        if (piece.what == net::body_piece::kind::failed) {
            request.keep_alive = false;
            co_return;
        }
        received += piece.bytes.size();
    }
    api::append_json(request.out, options,
                     api::success_body("Received " + std::to_string(received) + " bytes"));
}

} // namespace replica
