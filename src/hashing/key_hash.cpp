#include "hashing/key_hash.hpp"

#include <xxhash.h>

namespace hashing {

std::uint64_t hash_bytes(std::string_view bytes) noexcept {
    return XXH3_64bits(bytes.data(), bytes.size());
}

std::uint64_t hash_number(std::uint64_t value) noexcept {
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) {
        le[i] = static_cast<unsigned char>(value >> (8 * i));
    }
    return XXH3_64bits(le, sizeof le);
}

request_key make_request_key(std::uint64_t value) noexcept {
    return request_key{hash_number(value), value};
}

request_key make_request_key(std::string_view text) noexcept {
    // 19 digits always fit in 64 bits (10^19 - 1 < 2^64); longer numbers are plain strings.
    if (!text.empty() && text.size() <= 19) {
        std::uint64_t value = 0;
        bool numeric = true;
        for (char c : text) {
            if (c < '0' || c > '9') {
                numeric = false;
                break;
            }
            value = value * 10 + static_cast<std::uint64_t>(c - '0');
        }
        if (numeric) {
            return make_request_key(value);
        }
    }
    return request_key{hash_bytes(text), std::nullopt};
}

} // namespace hashing
