#include "http/header_list.hpp"

namespace http {

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
