#pragma once
// Request keys: turns the routing key of a request (an X-Request-ID, a cookie, a generated
// 6-digit id) into the 64-bit XXH3 hash every algorithm routes on, and remembers the key's
// integer value when it is a decimal number, because the `spec` ring is defined on request
// ids, not on hashes. Pure functions, callable from any thread; nothing allocates.

#include <cstdint>
#include <optional>
#include <string_view>

namespace hashing {

// What a lookup needs to know about a request's key. Cheap to copy (16 bytes + flag).
struct request_key {
    std::uint64_t hash = 0;              // XXH3 64 of the key (see make_request_key)
    std::optional<std::uint64_t> number; // the key's value when it is a decimal number
};

// XXH3 64 of arbitrary bytes, seed 0: identical in every process and on every machine.
std::uint64_t hash_bytes(std::string_view bytes) noexcept;

// XXH3 64 of a numeric id, hashed as its 8 little-endian bytes (so big-endian hosts agree).
std::uint64_t hash_number(std::uint64_t value) noexcept;

// A key given as a number (a generated request id): hash_number(value), number = value.
request_key make_request_key(std::uint64_t value) noexcept;

// A key given as text. NOTE: text of 1 to 19 decimal digits (leading zeros allowed) is a
// number and is hashed as one, so the header "123456" and the generated id 123456 route the
// same way; "0123" and "123" are the same key. Anything else is hash_bytes(text), no number.
request_key make_request_key(std::string_view text) noexcept;

// The integer the `spec` ring uses for a key: its value when numeric, else its XXH3 hash
// (the assignment turns a non-numeric key into an integer with XXH3).
inline std::uint64_t spec_request_id(const request_key& key) noexcept {
    return key.number ? *key.number : key.hash;
}

} // namespace hashing
