#include "http/hop_by_hop.hpp"

namespace http {

bool is_hop_by_hop(std::string_view name) {
    static constexpr std::string_view fixed[] = {
        "connection", "keep-alive",        "proxy-connection", "te",
        "trailer",    "transfer-encoding", "upgrade",
    };
    for (std::string_view f : fixed) {
        if (iequals(name, f)) {
            return true;
        }
    }
    return false;
}

bool is_hop_by_hop(std::string_view name, const header_list& message_headers) {
    return is_hop_by_hop(name) || message_headers.contains_token("connection", name);
}

std::uint64_t hop_by_hop_filter::hash(std::string_view name) noexcept {
    std::uint64_t h = 1469598103934665603ULL; // FNV-1a over the lower-cased bytes
    for (const char c : name) {
        const auto lower = static_cast<unsigned char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
        h = (h ^ lower) * 1099511628211ULL;
    }
    return h;
}

hop_by_hop_filter::hop_by_hop_filter(const header_list& message_headers) noexcept {
    for (const auto& field : message_headers) {
        if (!iequals(field.name, "Connection")) {
            continue;
        }
        for_each_token(field.value, [this](std::string_view token) {
            if (tokens_ == max_tokens) {
                too_many_ = true;
                return;
            }
            if (tokens_ == 0) {
                table_.fill(slot{nullptr, 0});
            }
            for (std::size_t i = hash(token) % slots;; i = (i + 1) % slots) {
                if (table_[i].size == 0) {
                    table_[i] = slot{token.data(), token.size()};
                    ++tokens_;
                    return;
                }
                if (iequals(table_[i].view(), token)) {
                    return; // listed twice
                }
            }
        });
    }
}

bool hop_by_hop_filter::drops(std::string_view name) const noexcept {
    if (is_hop_by_hop(name)) {
        return true;
    }
    if (tokens_ == 0) {
        return false;
    }
    for (std::size_t i = hash(name) % slots; table_[i].size != 0; i = (i + 1) % slots) {
        if (iequals(table_[i].view(), name)) {
            return true;
        }
    }
    return false;
}

} // namespace http
