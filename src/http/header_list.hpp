// An ordered, read-only view of header fields with case-insensitive lookup. It owns
// nothing: names and values point into a parser's arena and stay valid until that parser
// starts its next message. No allocation, no thread affinity.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

namespace http {

struct header_field {
    std::string_view name;
    std::string_view value; // optional whitespace around it already removed
};

// ASCII case-insensitive equality: header names and tokens are ASCII (RFC 9110 5.1).
// Inline: a request compares its field names dozens of times, most failing on the size.
inline bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        const auto x = static_cast<unsigned char>(a[i]);
        const auto y = static_cast<unsigned char>(b[i]);
        // Equal, or equal letters of different case (only letters differ by 0x20 that way
        // after the OR below maps both to lower case).
        if (x != y && ((x | 0x20U) != (y | 0x20U) || (x | 0x20U) < 'a' || (x | 0x20U) > 'z')) {
            return false;
        }
    }
    return true;
}

class header_list {
public:
    header_list() = default;
    explicit header_list(std::span<const header_field> fields) : fields_(fields) {}

    auto begin() const { return fields_.begin(); }
    auto end() const { return fields_.end(); }
    std::size_t size() const { return fields_.size(); }
    bool empty() const { return fields_.empty(); }
    const header_field& operator[](std::size_t i) const { return fields_[i]; }

    // Value of the first field called `name`, or nullopt.
    std::optional<std::string_view> find(std::string_view name) const;
    std::size_t count(std::string_view name) const;
    // True when a field called `name` carries `token` in its comma-separated list
    // (e.g. contains_token("connection", "close")), case-insensitively.
    bool contains_token(std::string_view name, std::string_view token) const;

private:
    std::span<const header_field> fields_;
};

// Calls fn(token) for each element of a comma-separated list, trimmed, empty ones skipped.
template <typename Fn> void for_each_token(std::string_view list, Fn&& fn) {
    while (!list.empty()) {
        std::size_t comma = list.find(',');
        std::string_view token = list.substr(0, comma);
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
            token.remove_prefix(1);
        }
        while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
            token.remove_suffix(1);
        }
        if (!token.empty()) {
            fn(token);
        }
    }
}

} // namespace http
