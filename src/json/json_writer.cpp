#include "json/json_writer.hpp"

#include <cassert>
#include <charconv>

namespace json {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid
// (overlong forms, surrogates and code points above U+10FFFF included; RFC 3629).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char b0 = byte(i);
    std::size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xbf;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
        len = 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        len = 3;
        lo = b0 == 0xe0 ? 0xa0 : 0x80;
        hi = b0 == 0xed ? 0x9f : 0xbf;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        len = 4;
        lo = b0 == 0xf0 ? 0x90 : 0x80;
        hi = b0 == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (i + len > s.size()) {
        return 0;
    }
    if (byte(i + 1) < lo || byte(i + 1) > hi) {
        return 0;
    }
    for (std::size_t k = 2; k < len; ++k) {
        if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) {
            return 0;
        }
    }
    return len;
}

// \uXXXX, lower-case hex.
void append_escape(std::string& out, std::uint32_t unit) {
    static constexpr char hex[] = "0123456789abcdef";
    const char text[6] = {'\\',
                          'u',
                          hex[(unit >> 12) & 0xf],
                          hex[(unit >> 8) & 0xf],
                          hex[(unit >> 4) & 0xf],
                          hex[unit & 0xf]};
    out.append(text, sizeof text);
}

} // namespace

void append_string(std::string& out, std::string_view s) {
    out.push_back('"');
    std::size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            // ASCII only, as Python's json.dumps writes it (ensure_ascii): \uXXXX, and a
            // surrogate pair above U+FFFF.
            const std::size_t len = utf8_sequence_length(s, i);
            if (len == 0) {
                out.append("\\ufffd");
                ++i;
                continue;
            }
            std::uint32_t code = c & (0x7fU >> len);
            for (std::size_t k = 1; k < len; ++k) {
                code = (code << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3fU);
            }
            if (code >= 0x10000) {
                code -= 0x10000;
                append_escape(out, 0xd800 + (code >> 10));
                append_escape(out, 0xdc00 + (code & 0x3ff));
            } else {
                append_escape(out, code);
            }
            i += len;
            continue;
        }
        switch (c) {
        case '"':
            out.append("\\\"");
            break;
        case '\\':
            out.append("\\\\");
            break;
        case '\b':
            out.append("\\b");
            break;
        case '\f':
            out.append("\\f");
            break;
        case '\n':
            out.append("\\n");
            break;
        case '\r':
            out.append("\\r");
            break;
        case '\t':
            out.append("\\t");
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                append_escape(out, c);
            } else {
                out.push_back(static_cast<char>(c));
            }
        }
        ++i;
    }
    out.push_back('"');
}

void json_writer::before_value() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (depth_ > 0) {
        std::uint64_t bit = std::uint64_t{1} << (depth_ - 1);
        assert(!(is_object_ & bit) && "object members need key() first");
        if (has_element_ & bit) {
            out_.push_back(',');
        }
        has_element_ |= bit;
    }
}

void json_writer::open(char c) {
    before_value();
    assert(depth_ < 64);
    ++depth_;
    std::uint64_t bit = std::uint64_t{1} << (depth_ - 1);
    has_element_ &= ~bit;
    if (c == '{') {
        is_object_ |= bit;
    } else {
        is_object_ &= ~bit;
    }
    out_.push_back(c);
}

void json_writer::close(char c) {
    assert(depth_ > 0 && !after_key_);
    --depth_;
    out_.push_back(c);
}

json_writer& json_writer::begin_object() {
    open('{');
    return *this;
}

json_writer& json_writer::end_object() {
    close('}');
    return *this;
}

json_writer& json_writer::begin_array() {
    open('[');
    return *this;
}

json_writer& json_writer::end_array() {
    close(']');
    return *this;
}

json_writer& json_writer::key(std::string_view k) {
    assert(depth_ > 0 && !after_key_);
    std::uint64_t bit = std::uint64_t{1} << (depth_ - 1);
    assert(is_object_ & bit);
#ifndef NDEBUG
    // jsonify sorts keys: so must every caller (byte code order is code point order).
    assert(!sorted_ || !(has_element_ & bit) || last_key_[depth_ - 1] < k);
    last_key_[depth_ - 1].assign(k);
#endif
    if (has_element_ & bit) {
        out_.push_back(',');
    }
    has_element_ |= bit;
    append_string(out_, k);
    out_.push_back(':');
    after_key_ = true;
    return *this;
}

json_writer& json_writer::value(std::string_view s) {
    before_value();
    append_string(out_, s);
    return *this;
}

json_writer& json_writer::value(bool b) {
    before_value();
    out_.append(b ? "true" : "false");
    return *this;
}

json_writer& json_writer::signed_value(std::int64_t v) {
    before_value();
    char buf[24];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, res.ptr);
    return *this;
}

json_writer& json_writer::unsigned_value(std::uint64_t v) {
    before_value();
    char buf[24];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, res.ptr);
    return *this;
}

json_writer& json_writer::null() {
    before_value();
    out_.append("null");
    return *this;
}

json_writer& json_writer::raw(std::string_view json_text) {
    before_value();
    out_.append(json_text);
    return *this;
}

void append_status_message(std::string& out, std::string_view message, bool success) {
    json_writer w(out);
    w.begin_object().key("message").value(message);
    w.key("status").value(success ? "successful" : "failure").end_object();
    out.push_back('\n');
}

void append_status_raw(std::string& out, std::string_view message_json, bool success) {
    json_writer w(out);
    w.begin_object().key("message").raw(message_json);
    w.key("status").value(success ? "successful" : "failure").end_object();
    out.push_back('\n');
}

} // namespace json
