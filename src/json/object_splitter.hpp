#pragma once
// object_splitter: cuts a byte stream of concatenated JSON objects (the Docker Engine
// API's /events stream) into whole objects, however the stream was chunked: objects may
// split across chunks, several may share one. It tracks brace depth outside strings, so
// braces inside string values do not confuse it. No I/O; one stream per splitter; keeps
// the bytes of the object in progress.

#include <cstddef>
#include <string>
#include <string_view>

namespace json {

class object_splitter {
public:
    // Appends `bytes` and calls on_object(std::string_view) for each object completed.
    template <typename OnObject> void feed(std::string_view bytes, OnObject&& on_object) {
        for (char c : bytes) {
            if (depth_ == 0 && c != '{') {
                continue; // whitespace or newlines between objects
            }
            pending_ += c;
            if (in_string_) {
                if (escaped_) {
                    escaped_ = false;
                } else if (c == '\\') {
                    escaped_ = true;
                } else if (c == '"') {
                    in_string_ = false;
                }
                continue;
            }
            if (c == '"') {
                in_string_ = true;
            } else if (c == '{') {
                ++depth_;
            } else if (c == '}' && --depth_ == 0) {
                on_object(std::string_view{pending_});
                pending_.clear();
            }
        }
    }

    // Bytes of an object still incomplete.
    std::size_t pending() const noexcept { return pending_.size(); }
    void reset() noexcept {
        pending_.clear();
        depth_ = 0;
        in_string_ = escaped_ = false;
    }

private:
    std::string pending_;
    int depth_ = 0;
    bool in_string_ = false;
    bool escaped_ = false;
};

} // namespace json
