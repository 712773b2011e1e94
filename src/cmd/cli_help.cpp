#include "cmd/cli_help.hpp"

#include <algorithm>

namespace cmd {

namespace {
// "N:INT in [1 - 256]" gives "1 to 256"; "N:POWER OF 2" gives "a power of two".
std::string allowed_range(const std::string& type) {
    const auto in = type.find(" in [");
    if (in != std::string::npos) {
        const std::string range = type.substr(in + 5, type.size() - in - 6);
        const auto dash = range.find(" - ");
        return range.substr(0, dash) + " to " + range.substr(dash + 3);
    }
    if (type.find("POWER OF 2") != std::string::npos) {
        return "a power of two";
    }
    return {};
}

// Breaks at spaces so that no line is longer than `width` (a longer word stands alone).
std::string wrap(const std::string& text, std::size_t width) {
    std::string out;
    std::size_t line = 0;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find(' ', start);
        if (end == std::string::npos) {
            end = text.size();
        }
        const std::size_t word = end - start;
        if (line > 0 && line + 1 + word > width) {
            out += '\n';
            line = 0;
        } else if (line > 0) {
            out += ' ';
            ++line;
        }
        out.append(text, start, word);
        line += word;
        start = end + 1;
    }
    return out;
}
} // namespace

CLI::Validator power_of_two(long low, long high) {
    return CLI::Validator(
        [low, high](std::string& text) -> std::string {
            long value = 0;
            if (!CLI::detail::lexical_cast(text, value) || value < low || value > high ||
                (value & (value - 1)) != 0) {
                return "Value " + text + " is not a power of two from " + std::to_string(low) +
                       " to " + std::to_string(high);
            }
            return {};
        },
        "POWER OF 2");
}

// The type name without what the checks add to it ("N:INT in [1 - 256]" is "N").
std::string help_formatter::make_option_opts(const CLI::Option* option) const {
    if (option->get_type_size() == 0) {
        return {};
    }
    const std::string type = option->get_type_name();
    std::size_t end = type.size();
    for (const char* added : {":INT", ":FLOAT", ":{", ":POWER", ":NONNEGATIVE"}) {
        end = std::min(end, type.find(added));
    }
    return " " + type.substr(0, end);
}

std::string help_formatter::make_option_desc(const CLI::Option* option) const {
    std::string text = option->get_description();
    std::string notes = allowed_range(option->get_type_name());
    if (!option->get_envname().empty()) {
        notes += (notes.empty() ? "" : "; ") + std::string("env ") + option->get_envname();
    }
    if (!option->get_default_str().empty()) {
        notes += (notes.empty() ? "" : "; ") + std::string("default ") + option->get_default_str();
    }
    if (!notes.empty()) {
        text += " (" + notes + ")";
    }
    return wrap(text, 100 - get_column_width());
}

} // namespace cmd
