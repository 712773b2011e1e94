// A small streaming JSON writer that appends to a caller-owned std::string (reused by
// the caller): objects, arrays, strings with correct escaping, integers, booleans,
// null and pre-rendered JSON. Also the standard answer
// {"message":...,"status":"successful"|"failure"}. No state beyond one writer's
// nesting; any thread; allocates only when the caller's string grows.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

namespace json {

// Appends s as a quoted JSON string, as Python's json.dumps writes it (ensure_ascii): '"'
// and '\\' escaped, \b \f \n \r \t in short form, other control characters and DEL as
// \u00XX, every other non-ASCII character as \uXXXX (lower-case hex, a surrogate pair
// above U+FFFF), and each byte of an invalid UTF-8 sequence as \ufffd, so the output is
// always valid ASCII JSON.
void append_string(std::string& out, std::string_view s);

// Output looks like {"a":1,"b":[true,null]}: compact separators, the bytes Flask's jsonify
// writes. Keys must come in sorted order (jsonify sorts them; asserted). Misuse (a value
// where a key is due, unbalanced ends, nesting deeper than 64) is a bug and asserted.
// Answers sort their keys; other JSON (requests to the Docker API, reports) need not.
enum class key_order : std::uint8_t { sorted, as_written };

class json_writer {
public:
    explicit json_writer(std::string& out, key_order order = key_order::sorted)
        : out_(out), sorted_(order == key_order::sorted) {}

    json_writer& begin_object();
    json_writer& end_object();
    json_writer& begin_array();
    json_writer& end_array();
    json_writer& key(std::string_view k);

    json_writer& value(std::string_view s);
    json_writer& value(const char* s) { return value(std::string_view{s}); }
    json_writer& value(bool b);
    template <std::integral T>
    requires(!std::same_as<T, bool>) json_writer& value(T v) {
        if constexpr (std::is_signed_v<T>) {
            return signed_value(static_cast<std::int64_t>(v));
        } else {
            return unsigned_value(static_cast<std::uint64_t>(v));
        }
    }
    json_writer& null();
    // Inserts already valid JSON text as one value.
    json_writer& raw(std::string_view json_text);

private:
    json_writer& signed_value(std::int64_t v);
    json_writer& unsigned_value(std::uint64_t v);
    void before_value();
    void open(char c);
    void close(char c);

    std::string& out_;
    // Bit d set: the container at depth d already holds an element (a comma is due).
    std::uint64_t has_element_ = 0;
    // Bit d set: the container at depth d is an object.
    std::uint64_t is_object_ = 0;
    int depth_ = 0;
    bool after_key_ = false;
    [[maybe_unused]] bool sorted_ = true;
#ifndef NDEBUG
    std::string last_key_[64]; // the last key at each depth, to assert the order
#endif
};

// {"message":"<message>","status":"successful"} (or "failure") and jsonify's "\n": a
// whole answer body.
void append_status_message(std::string& out, std::string_view message, bool success);
// Same, with message_json inserted as is: {"message":{"N":3,...},"status":...}\n.
void append_status_raw(std::string& out, std::string_view message_json, bool success);

} // namespace json
