#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "json/object_splitter.hpp"

TEST_CASE("concatenated objects are split whatever the chunking") {
    const std::string stream =
        R"({"Type":"container","Action":"die","Actor":{"Attributes":{"name":"S5","note":"a } { \" brace"}}})"
        "\n"
        R"({"Type":"container","Action":"start"}{"Action":"oom"})";
    for (std::size_t chunk = 1; chunk <= stream.size(); ++chunk) {
        json::object_splitter splitter;
        std::vector<std::string> objects;
        for (std::size_t at = 0; at < stream.size(); at += chunk) {
            splitter.feed(std::string_view{stream}.substr(at, chunk),
                          [&](std::string_view object) { objects.emplace_back(object); });
        }
        REQUIRE(objects.size() == 3);
        CHECK(objects[0].starts_with(R"({"Type":"container","Action":"die")"));
        CHECK(objects[0].ends_with("}}}"));
        CHECK(objects[1] == R"({"Type":"container","Action":"start"})");
        CHECK(objects[2] == R"({"Action":"oom"})");
        CHECK(splitter.pending() == 0);
    }
}
