#include "http/header_list.hpp"

namespace http {

namespace {

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

} // namespace

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) {
            return false;
        }
    }
    return true;
}

std::optional<std::string_view> header_list::find(std::string_view name) const {
    for (const header_field& f : fields_) {
        if (iequals(f.name, name)) {
            return f.value;
        }
    }
    return std::nullopt;
}

std::size_t header_list::count(std::string_view name) const {
    std::size_t n = 0;
    for (const header_field& f : fields_) {
        n += iequals(f.name, name) ? 1 : 0;
    }
    return n;
}

bool header_list::contains_token(std::string_view name, std::string_view token) const {
    bool found = false;
    for (const header_field& f : fields_) {
        if (!found && iequals(f.name, name)) {
            for_each_token(f.value,
                           [&](std::string_view t) { found = found || iequals(t, token); });
        }
    }
    return found;
}

} // namespace http
