// The swarm backend's pure parts: the service spec lbd sends, the engine's answers it reads
// (services, tasks, times), and the rule by which every balancer keeps the same services.
#include <catch2/catch.hpp>

#include <nettle/base64.h>
#include <simdjson.h>

#include "orchestrator/swarm_api.hpp"
#include "orchestrator/swarm_orchestrator.hpp"

using namespace orchestrator;

namespace {
std::string text(simdjson::simdjson_result<simdjson::dom::element> element) {
    std::string_view out;
    REQUIRE(element.get_string().get(out) == simdjson::SUCCESS);
    return std::string(out);
}

std::string unbase64(const std::string& encoded) {
    base64_decode_ctx ctx;
    base64_decode_init(&ctx);
    std::string out(BASE64_DECODE_LENGTH(encoded.size()), '\0');
    std::size_t length = out.size();
    REQUIRE(base64_decode_update(&ctx, &length, reinterpret_cast<std::uint8_t*>(out.data()),
                                 encoded.size(), encoded.data()));
    REQUIRE(base64_decode_final(&ctx));
    out.resize(length);
    return out;
}

swarm_service service(std::string name, std::string id_label, std::string created,
                      std::string id = {}) {
    return swarm_service{id.empty() ? "svc-" + name : id,
                         name,
                         {{"lbd.name", name}, {"lbd.id", std::move(id_label)}},
                         std::move(created)};
}

std::vector<std::string> names(const std::vector<swarm_service>& services) {
    std::vector<std::string> out;
    for (const auto& s : services) {
        out.push_back(s.name);
    }
    return out;
}
} // namespace

TEST_CASE("a replica's service: one task, DNS round robin, restarted by Swarm, on the overlay") {
    service_spec spec{.name = "Server4",
                      .image = "lb-replica:latest",
                      .network = "lbd-net",
                      .environment = {"SERVER_ID=4"},
                      .labels = {{"lbd.id", "4"}, {"lbd.name", "Server4"}},
                      .seccomp_profile = R"({"defaultAction":"SCMP_ACT_ALLOW"})"};
    simdjson::dom::parser parser;
    const std::string body = service_create_body(spec, false);
    simdjson::dom::element doc = parser.parse(body);
    CHECK(text(doc["Name"]) == "Server4");
    CHECK(text(doc["Labels"]["lbd.id"]) == "4");
    CHECK(text(doc["EndpointSpec"]["Mode"]) == "dnsrr"); // no VIP: no IP_VS needed
    CHECK(doc["Mode"]["Replicated"]["Replicas"].get_int64().value() == 1);
    const auto task = doc["TaskTemplate"];
    CHECK(text(task["ContainerSpec"]["Image"]) == "lb-replica:latest");
    CHECK(text(task["ContainerSpec"]["Hostname"]) == "Server4");
    CHECK(text(task["ContainerSpec"]["Labels"]["lbd.name"]) == "Server4");
    CHECK(text(task["ContainerSpec"]["Env"].at(0)) == "SERVER_ID=4");
    CHECK(text(task["RestartPolicy"]["Condition"]) == "any");
    CHECK(task["RestartPolicy"]["Delay"].get_int64().value() == 100'000'000);
    CHECK(text(task["Placement"]["Preferences"].at(0)["Spread"]["SpreadDescriptor"]) == "node.id");
    CHECK(text(task["Networks"].at(0)["Target"]) == "lbd-net");
    CHECK(text(task["Networks"].at(0)["Aliases"].at(0)) == "Server4");
    // An engine older than 1.44 has no seccomp field in a service spec: none is sent.
    CHECK(task["ContainerSpec"]["Privileges"].error() == simdjson::NO_SUCH_FIELD);

    const std::string with = service_create_body(spec, true);
    simdjson::dom::element seccomp =
        parser.parse(with)["TaskTemplate"]["ContainerSpec"]["Privileges"]["Seccomp"];
    CHECK(text(seccomp["Mode"]) == "custom");
    CHECK(unbase64(text(seccomp["Profile"])) == spec.seccomp_profile); // Go's []byte: base64
}

TEST_CASE("services are read with their labels and creation time") {
    const std::string body = R"json([
      {"ID":"abc","Version":{"Index":12},"CreatedAt":"2026-12-01T20:10:11.123456789Z",
       "Spec":{"Name":"Server1","Labels":{"lbd.id":"1","lbd.instance":"lab"},
               "TaskTemplate":{"ContainerSpec":{"Image":"lb-replica:latest"}}}},
      {"ID":"def","CreatedAt":"2026-12-01T20:10:12Z","Spec":{"Name":"Other","Labels":null}}
    ])json";
    auto services = parse_services(body);
    REQUIRE(services);
    REQUIRE(services->size() == 2);
    CHECK((*services)[0].id == "abc");
    CHECK((*services)[0].name == "Server1");
    CHECK((*services)[0].labels.at("lbd.instance") == "lab");
    CHECK((*services)[0].created_at == "2026-12-01T20:10:11.123456789Z");
    CHECK((*services)[1].labels.empty());
    CHECK_FALSE(parse_services("{not json"));
}

TEST_CASE("a task's address is its address on the replicas' network, without the prefix") {
    // As Docker 20.10 lists a task attached to the ingress and to lbd-net.
    const std::string body = R"json([
      {"ID":"t1","ServiceID":"abc","NodeID":"n2","CreatedAt":"2026-12-01T20:10:11.2Z",
       "Status":{"State":"running","Message":"started"},"DesiredState":"running",
       "NetworksAttachments":[
         {"Network":{"ID":"i","Spec":{"Name":"ingress"}},"Addresses":["10.0.0.7/24"]},
         {"Network":{"ID":"o","Spec":{"Name":"lbd-net"}},"Addresses":["10.0.1.5/24"]}]},
      {"ID":"t2","ServiceID":"abc","NodeID":"n3","CreatedAt":"2026-12-01T20:10:09Z",
       "Status":{"State":"failed","Err":"task: non-zero exit (137)"},
       "DesiredState":"shutdown"}
    ])json";
    auto tasks = parse_tasks(body, "lbd-net");
    REQUIRE(tasks);
    REQUIRE(tasks->size() == 2);
    CHECK((*tasks)[0].address == "10.0.1.5");
    CHECK((*tasks)[0].state == "running");
    CHECK((*tasks)[0].node_id == "n2");
    CHECK((*tasks)[1].address.empty());
    CHECK((*tasks)[1].error == "task: non-zero exit (137)");
    CHECK((*tasks)[1].desired_state == "shutdown");
    CHECK(parse_tasks(body, "elsewhere")->at(0).address.empty());
}

TEST_CASE("the engine's times are ordered whatever the length of their fractions") {
    CHECK(earlier("2026-12-01T20:10:11Z", "2026-12-01T20:10:11.1Z"));
    CHECK(earlier("2026-12-01T20:10:11.123Z", "2026-12-01T20:10:11.5Z"));
    CHECK(earlier("2026-12-01T20:10:11.999999999Z", "2026-12-01T20:10:12Z"));
    CHECK_FALSE(earlier("2026-12-01T20:10:11.50Z", "2026-12-01T20:10:11.5Z"));
    CHECK_FALSE(earlier("2026-12-02T00:00:00Z", "2026-12-01T23:59:59.9Z"));
}

TEST_CASE("every balancer keeps the same services: first created keeps a shared id") {
    std::vector<swarm_service> listed{
        service("S9", "5", "2026-12-01T20:10:12.2Z"),
        service("S7", "5", "2026-12-01T20:10:12.10Z"), // created first: keeps id 5
        service("Server1", "1", "2026-12-01T20:00:00Z"),
        service("A", "6", "2026-12-01T20:10:13Z"),
        service("B", "6", "2026-12-01T20:10:13Z"), // same time: the lower name keeps it
        service("NoId", "", "2026-12-01T20:00:00Z"),
    };
    swarm_service renamed = service("Moved", "8", "2026-12-01T20:00:00Z");
    renamed.labels["lbd.name"] = "Elsewhere"; // a label that disagrees with the name
    listed.push_back(renamed);
    const auto kept = agreed_services(listed);
    CHECK(names(kept) == std::vector<std::string>{"A", "S7", "Server1"});
    // Whatever order the engine lists them in.
    std::reverse(listed.begin(), listed.end());
    CHECK(names(agreed_services(listed)) == names(kept));
}
