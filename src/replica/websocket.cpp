#include "replica/websocket.hpp"

#include <nettle/base64.h>
#include <nettle/sha1.h>

namespace replica {

namespace {
constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool is_control(ws_opcode opcode) {
    return static_cast<std::uint8_t>(opcode) >= 8;
}

bool known(std::uint8_t opcode) {
    return opcode <= 2 || (opcode >= 8 && opcode <= 10);
}
} // namespace

std::string websocket_accept(std::string_view key) {
    sha1_ctx context;
    sha1_init(&context);
    sha1_update(&context, key.size(), reinterpret_cast<const std::uint8_t*>(key.data()));
    sha1_update(&context, websocket_guid.size(),
                reinterpret_cast<const std::uint8_t*>(websocket_guid.data()));
    std::uint8_t digest[SHA1_DIGEST_SIZE];
    sha1_digest(&context, sizeof digest, digest);
    std::string out(BASE64_ENCODE_RAW_LENGTH(sizeof digest), '\0');
    base64_encode_raw(out.data(), sizeof digest, digest);
    return out;
}

std::optional<ws_frame> ws_frame_parser::next() {
    if (error_ != 0 || buffer_.size() < 2) {
        return std::nullopt;
    }
    const auto byte = [this](std::size_t i) { return static_cast<std::uint8_t>(buffer_[i]); };
    const std::uint8_t first = byte(0);
    const std::uint8_t second = byte(1);
    const std::uint8_t opcode = first & 0x0f;
    const bool fin = (first & 0x80) != 0;
    // No extension was negotiated: reserved bits must be clear; clients must mask.
    if ((first & 0x70) != 0 || !known(opcode) || (second & 0x80) == 0) {
        error_ = 1002;
        return std::nullopt;
    }
    std::uint64_t length = second & 0x7f;
    std::size_t at = 2;
    if (length == 126 || length == 127) {
        const std::size_t bytes = length == 126 ? 2 : 8;
        if (buffer_.size() < at + bytes) {
            return std::nullopt;
        }
        length = 0;
        for (std::size_t i = 0; i < bytes; ++i) {
            length = (length << 8) | byte(at + i);
        }
        at += bytes;
    }
    if (is_control(static_cast<ws_opcode>(opcode)) && (length > 125 || !fin)) {
        error_ = 1002;
        return std::nullopt;
    }
    if (length > max_payload_) {
        error_ = 1009;
        return std::nullopt;
    }
    if (buffer_.size() < at + 4 + length) {
        return std::nullopt;
    }
    const std::uint8_t mask[4] = {byte(at), byte(at + 1), byte(at + 2), byte(at + 3)};
    at += 4;
    ws_frame frame;
    frame.fin = fin;
    frame.opcode = static_cast<ws_opcode>(opcode);
    frame.payload.assign(buffer_, at, static_cast<std::size_t>(length));
    for (std::size_t i = 0; i < frame.payload.size(); ++i) {
        frame.payload[i] =
            static_cast<char>(static_cast<std::uint8_t>(frame.payload[i]) ^ mask[i % 4]);
    }
    buffer_.erase(0, at + static_cast<std::size_t>(length));
    return frame;
}

void append_ws_frame(std::string& out, ws_opcode opcode, std::string_view payload, bool fin) {
    out.push_back(static_cast<char>((fin ? 0x80 : 0) | static_cast<std::uint8_t>(opcode)));
    const std::uint64_t length = payload.size();
    if (length < 126) {
        out.push_back(static_cast<char>(length));
    } else if (length <= 0xffff) {
        out.push_back(static_cast<char>(126));
        out.push_back(static_cast<char>(length >> 8));
        out.push_back(static_cast<char>(length & 0xff));
    } else {
        out.push_back(static_cast<char>(127));
        for (int shift = 56; shift >= 0; shift -= 8) {
            out.push_back(static_cast<char>((length >> shift) & 0xff));
        }
    }
    out.append(payload);
}

} // namespace replica
