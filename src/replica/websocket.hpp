#pragma once
// websocket: the RFC 6455 pieces lb-replica's /ws echo needs, without I/O: the handshake's
// accept key (SHA-1 and base64 from Debian's nettle), an incremental parser of client
// frames (masked, as RFC 6455 5.1 requires) and the serializer of server frames.
// Allocates the payloads; any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace replica {

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + the RFC's GUID)).
std::string websocket_accept(std::string_view key);

enum class ws_opcode : std::uint8_t {
    continuation = 0,
    text = 1,
    binary = 2,
    close = 8,
    ping = 9,
    pong = 10
};

struct ws_frame {
    bool fin = true;
    ws_opcode opcode = ws_opcode::text;
    std::string payload; // unmasked
};

class ws_frame_parser {
public:
    explicit ws_frame_parser(std::size_t max_payload = 1 << 20) : max_payload_(max_payload) {}

    // Appends received bytes.
    void feed(std::string_view bytes) { buffer_.append(bytes); }
    // The next complete frame, if one is buffered. After a protocol violation it returns
    // nothing more and error() says the close code to send (1002, or 1009: too big).
    std::optional<ws_frame> next();
    std::uint16_t error() const noexcept { return error_; }

private:
    std::string buffer_;
    std::size_t max_payload_;
    std::uint16_t error_ = 0;
};

// A server frame (unmasked) appended to `out`.
void append_ws_frame(std::string& out, ws_opcode opcode, std::string_view payload, bool fin = true);

} // namespace replica
