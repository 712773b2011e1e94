// The answers both programs write, pinned to the byte: what Flask's jsonify writes for the
// same object (compact, keys sorted, "\n"), with Content-Type: application/json.
#include <catch2/catch.hpp>

#include "api/answer.hpp"

TEST_CASE("a failure is a whole response with jsonify's body") {
    std::string out;
    http::response_options options;
    options.status = 400;
    options.keep_alive = true;
    api::append_failure(out, options, "<Error> Payload is not valid JSON");
    const std::string body = "{\"message\":\"<Error> Payload is not valid JSON\",\"status\":"
                             "\"failure\"}\n";
    CHECK(out == "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body);
}

TEST_CASE("a HEAD answer has the head only, with the body's length") {
    std::string out;
    http::response_options options;
    options.keep_alive = true;
    const std::string body = api::success_body("Hello from Server: S5");
    CHECK(body == "{\"message\":\"Hello from Server: S5\",\"status\":\"successful\"}\n");
    api::append_json(out, options, body, true);
    CHECK(out == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n");
}

TEST_CASE("non-ASCII in a message is escaped as jsonify does") {
    // json.dumps({"message": "<Error> '/caf\u00e9' ...", ...}) escapes the e-acute.
    CHECK(api::success_body("caf\xc3\xa9") ==
          "{\"message\":\"caf\\u00e9\",\"status\":\"successful\"}\n");
}
