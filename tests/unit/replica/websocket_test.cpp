// lb-replica's WebSocket pieces without sockets: the handshake key, client frames parsed
// (masked, fragmented, split across reads), protocol errors, server frames written.
#include <catch2/catch.hpp>

#include <string>

#include "replica/websocket.hpp"

using namespace replica;

namespace {
// A client frame: masked with `mask`, as RFC 6455 5.3 says.
std::string client_frame(std::uint8_t first, std::string_view payload,
                         const std::uint8_t mask[4] = nullptr) {
    static constexpr std::uint8_t default_mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    const std::uint8_t* m = mask != nullptr ? mask : default_mask;
    std::string out(1, static_cast<char>(first));
    if (payload.size() < 126) {
        out.push_back(static_cast<char>(0x80 | payload.size()));
    } else {
        out.push_back(static_cast<char>(0x80 | 126));
        out.push_back(static_cast<char>(payload.size() >> 8));
        out.push_back(static_cast<char>(payload.size() & 0xff));
    }
    out.append(reinterpret_cast<const char*>(m), 4);
    for (std::size_t i = 0; i < payload.size(); ++i) {
        out.push_back(static_cast<char>(payload[i] ^ m[i % 4]));
    }
    return out;
}
} // namespace

TEST_CASE("the accept key of RFC 6455's own example") {
    CHECK(websocket_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("client frames: RFC 6455 5.7's masked Hello, split anywhere") {
    // 0x81 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58: a masked "Hello".
    const std::string wire = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
        ws_frame_parser parser;
        parser.feed(wire.substr(0, cut));
        if (cut < wire.size()) {
            CHECK_FALSE(parser.next());
            parser.feed(wire.substr(cut));
        }
        auto frame = parser.next();
        REQUIRE(frame);
        CHECK(frame->fin);
        CHECK(frame->opcode == ws_opcode::text);
        CHECK(frame->payload == "Hello");
        CHECK_FALSE(parser.next());
    }
}

TEST_CASE("client frames: fragments, control frames between them, 16-bit lengths") {
    ws_frame_parser parser;
    const std::string big(300, 'x');
    parser.feed(client_frame(0x01, "frag") + client_frame(0x89, "ping") +
                client_frame(0x80, "ment") + client_frame(0x82, big));
    auto first = parser.next();
    auto ping = parser.next();
    auto last = parser.next();
    auto binary = parser.next();
    REQUIRE((first && ping && last && binary));
    CHECK((!first->fin && first->opcode == ws_opcode::text && first->payload == "frag"));
    CHECK((ping->opcode == ws_opcode::ping && ping->payload == "ping"));
    CHECK((last->fin && last->opcode == ws_opcode::continuation && last->payload == "ment"));
    CHECK((binary->opcode == ws_opcode::binary && binary->payload == big));
}

TEST_CASE("client frames: protocol errors close with 1002, oversize with 1009") {
    SECTION("unmasked") {
        ws_frame_parser parser;
        parser.feed(std::string("\x81\x02hi", 4));
        CHECK_FALSE(parser.next());
        CHECK(parser.error() == 1002);
    }
    SECTION("reserved bits") {
        ws_frame_parser parser;
        parser.feed(client_frame(0xc1, "x"));
        CHECK_FALSE(parser.next());
        CHECK(parser.error() == 1002);
    }
    SECTION("unknown opcode") {
        ws_frame_parser parser;
        parser.feed(client_frame(0x83, "x"));
        CHECK_FALSE(parser.next());
        CHECK(parser.error() == 1002);
    }
    SECTION("fragmented control frame") {
        ws_frame_parser parser;
        parser.feed(client_frame(0x09, "x"));
        CHECK_FALSE(parser.next());
        CHECK(parser.error() == 1002);
    }
    SECTION("too big") {
        ws_frame_parser parser{100};
        parser.feed(client_frame(0x82, std::string(200, 'y')));
        CHECK_FALSE(parser.next());
        CHECK(parser.error() == 1009);
    }
}

TEST_CASE("server frames are unmasked, with the shortest length form") {
    std::string out;
    append_ws_frame(out, ws_opcode::text, "Hello");
    CHECK(out == "\x81\x05Hello");
    out.clear();
    append_ws_frame(out, ws_opcode::binary, std::string(256, 'b'));
    CHECK(out.substr(0, 4) == std::string("\x82\x7e\x01\x00", 4));
    CHECK(out.size() == 4 + 256);
    out.clear();
    append_ws_frame(out, ws_opcode::binary, std::string(70000, 'b'));
    CHECK(out.substr(0, 10) == std::string("\x82\x7f\x00\x00\x00\x00\x00\x01\x11\x70", 10));
    out.clear();
    append_ws_frame(out, ws_opcode::text, "part", false);
    CHECK(out == "\x01\x04part");
}
