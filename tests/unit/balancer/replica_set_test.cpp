// The replica lifecycle alone (balancer::replica_set): a fake orchestrator carries out its
// commands, a fake clock moves only when told. No sockets, no threads.
#include <catch2/catch.hpp>

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>

#include "balancer/replica_set.hpp"

using namespace balancer;
using namespace std::chrono_literals;
using kind = replica_command::kind;

namespace {

// Carries out a replica_set's commands: spawns get an address, probes the answer set per
// replica, stops finish. Commands can be held and answered later, in any order.
struct fake_orchestrator {
    replica_set& set;
    replica_set::time_point now{};
    std::map<std::string, bool> healthy;  // probe answers, by name (default true)
    std::set<std::string> failing_spawns; // names whose spawns fail
    std::deque<replica_command> held;     // commands not answered yet
    std::vector<replica_command> history; // every command ever issued
    int port = 10000;

    explicit fake_orchestrator(replica_set& s) : set(s) {}

    void collect() {
        for (auto& command : set.take_commands()) {
            history.push_back(command);
            held.push_back(std::move(command));
        }
    }
    void answer(const replica_command& c) {
        switch (c.what) {
        case kind::spawn:
            if (failing_spawns.contains(c.name)) {
                set.spawn_failed(c.name, c.incarnation, "cannot start", now);
            } else {
                set.spawned(c.name, c.incarnation,
                            *net::endpoint::parse("127.0.0.1:" + std::to_string(port++)), now);
            }
            break;
        case kind::probe: {
            auto found = healthy.find(c.name);
            set.probed(c.name, c.incarnation, found == healthy.end() || found->second, now);
            break;
        }
        case kind::stop:
            set.stopped(c.name, c.incarnation, now);
            break;
        }
    }
    // Answers everything, including what the answers cause, until nothing is left.
    void settle() {
        for (int rounds = 0; rounds < 100; ++rounds) {
            collect();
            if (held.empty()) {
                return;
            }
            while (!held.empty()) {
                replica_command c = std::move(held.front());
                held.pop_front();
                answer(c);
            }
        }
        FAIL("the commands never settle");
    }
    void advance(std::chrono::milliseconds by) {
        now += by;
        set.tick(now);
        settle();
    }
    // Time passing in small steps, as the control thread's timer sees it.
    void run_for(std::chrono::milliseconds total, std::chrono::milliseconds step = 10ms) {
        for (auto passed = 0ms; passed < total; passed += step) {
            advance(step);
        }
    }
    std::size_t count(kind what, const std::string& name) const {
        return static_cast<std::size_t>(
            std::count_if(history.begin(), history.end(), [&](const replica_command& c) {
                return c.what == what && c.name == name;
            }));
    }
};

lifecycle_options fast_options() {
    lifecycle_options o;
    o.heartbeat = 500ms;
    o.startup_probe = 20ms;
    o.startup_timeout = 1000ms;
    o.first_backoff = 100ms;
    o.max_backoff = 800ms;
    o.stable_after = 5000ms;
    return o;
}

void start_three(replica_set& set, fake_orchestrator& fake) {
    for (std::uint64_t i = 1; i <= 3; ++i) {
        set.add_member("Server" + std::to_string(i), i, 1, fake.now);
    }
    fake.settle();
}

} // namespace

TEST_CASE("members start, pass a heartbeat, and serve") {
    replica_set set{fast_options()};
    fake_orchestrator fake{set};
    start_three(set, fake);
    CHECK(set.serving() == std::vector<std::string>{"Server1", "Server2", "Server3"});
    CHECK(set.routable() == std::vector<std::uint8_t>{1, 1, 1});
    CHECK(set.members()[1].id == 2);
    CHECK(set.find("Server2")->state == replica_state::up);
    CHECK(set.next_id() == 4);
}

TEST_CASE("an exit takes the replica out at once; its replacement keeps name and id") {
    replica_set set{fast_options()};
    fake_orchestrator fake{set};
    start_three(set, fake);
    const auto membership = set.membership_version();
    set.exited("Server2", "killed", fake.now);
    // Out of picking, not out of the table: no other key moves.
    CHECK(set.routable() == std::vector<std::uint8_t>{1, 0, 1});
    CHECK(set.serving() == std::vector<std::string>{"Server1", "Server3"});
    CHECK(set.membership_version() == membership);
    fake.settle();
    // Stopped (whatever was left), spawned again at once with the same id, then up.
    const auto& last_spawn = *std::find_if(fake.history.rbegin(), fake.history.rend(),
                                           [](auto& c) { return c.what == kind::spawn; });
    CHECK(last_spawn.name == "Server2");
    CHECK(last_spawn.id == 2);
    CHECK(last_spawn.incarnation == 2);
    CHECK(set.serving() == std::vector<std::string>{"Server1", "Server2", "Server3"});
    CHECK(set.find("Server2")->respawns == 1);
}

TEST_CASE("the stop before a respawn says so; the stop of a removed replica does not") {
    // A backend that restarts replicas itself (swarm) keeps the first, removes the second.
    replica_set set{fast_options()};
    fake_orchestrator fake{set};
    start_three(set, fake);
    set.exited("Server2", "killed", fake.now);
    const std::vector<std::string> gone{"Server3"};
    set.remove(gone);
    set.release_removed();
    fake.settle();
    const auto stop_of = [&](const std::string& name) {
        return *std::find_if(fake.history.begin(), fake.history.end(),
                             [&](auto& c) { return c.what == kind::stop && c.name == name; });
    };
    CHECK(stop_of("Server2").respawn);
    CHECK_FALSE(stop_of("Server2").graceful);
    CHECK_FALSE(stop_of("Server3").respawn);
    CHECK(stop_of("Server3").graceful);
}

TEST_CASE("a replica that keeps dying waits longer each time; one that stayed up does not") {
    replica_set set{fast_options()};
    fake_orchestrator fake{set};
    start_three(set, fake);
    const auto spawns = [&] { return fake.count(kind::spawn, "Server1"); };
    set.exited("Server1", "exited", fake.now);
    fake.settle();
    CHECK(spawns() == 2); // the first restart is immediate
    set.exited("Server1", "exited", fake.now);
    fake.settle();
    CHECK(spawns() == 2); // the second waits 100 ms
    fake.advance(99ms);
    CHECK(spawns() == 2);
    fake.advance(1ms);
    CHECK(spawns() == 3);
    set.exited("Server1", "exited", fake.now);
    fake.advance(199ms);
    CHECK(spawns() == 3);
    fake.advance(1ms);
    CHECK(spawns() == 4);
    // Bounded: never more than max_backoff.
    for (int i = 0; i < 6; ++i) {
        set.exited("Server1", "exited", fake.now);
        fake.advance(800ms);
    }
    CHECK(spawns() == 10);
    CHECK(set.find("Server1")->backoff <= 800ms);
    // Up for stable_after: the next death restarts at once again (the reset the old code
    // missed when its start-up wait won the race with the health check).
    fake.advance(5000ms);
    set.exited("Server1", "exited", fake.now);
    fake.settle();
    CHECK(spawns() == 11);
}

TEST_CASE("a replacement that never passes its heartbeat is replaced again, and stays out") {
    replica_set set{fast_options()};
    fake_orchestrator fake{set};
    start_three(set, fake);
    fake.healthy["Server3"] = false;
    set.exited("Server3", "exited", fake.now);
    fake.settle();
    CHECK(set.find("Server3")->state == replica_state::starting);
    CHECK(set.serving() == std::vector<std::string>{"Server1", "Server2"});
    // Listed as a member (its keys wait for it) but never routable while starting.
    CHECK(set.member_names().size() == 3);
    fake.advance(1000ms); // past the start-up timeout: replaced, after its 100 ms backoff
    fake.advance(100ms);
    CHECK(fake.count(kind::spawn, "Server3") >= 3);
    fake.healthy["Server3"] = true;
    fake.run_for(1000ms);
    CHECK(set.find("Server3")->state == replica_state::up);
}

TEST_CASE("heartbeats: one failure is suspect and still serves, `fall` take it out") {
    replica_set set{fast_options()};
    fake_orchestrator fake{set};
    start_three(set, fake);
    fake.healthy["Server1"] = false;
    fake.advance(500ms);
    CHECK(set.find("Server1")->state == replica_state::suspect);
    CHECK(set.routable()[0] == 1);
    fake.healthy["Server1"] = true;
    fake.advance(500ms);
    CHECK(set.find("Server1")->state == replica_state::up);
    fake.healthy["Server1"] = false;
    fake.advance(500ms);
    fake.advance(500ms);
    CHECK(fake.count(kind::spawn, "Server1") == 2);
}

TEST_CASE("a passive report from the proxy probes at once and one failure is enough") {
    replica_set set{fast_options()};
    fake_orchestrator fake{set};
    start_three(set, fake);
    fake.healthy["Server2"] = false;
    set.suspect("Server2", fake.now);
    fake.settle();
    CHECK(fake.count(kind::spawn, "Server2") == 2);
}

TEST_CASE("a die reported while the spawn is still out is acted on when the spawn answers") {
    replica_set set{fast_options()};
    fake_orchestrator fake{set};
    start_three(set, fake);
    set.exited("Server1", "exited", fake.now);
    fake.collect();
    // The stop, then the spawn; the replacement dies before its spawn returns.
    while (!fake.held.empty() && fake.held.front().what != kind::spawn) {
        auto c = fake.held.front();
        fake.held.pop_front();
        fake.answer(c);
        fake.collect();
    }
    REQUIRE(!fake.held.empty());
    set.exited("Server1", "exited", fake.now);
    fake.settle();
    // Not forgotten: it was replaced once more (after its backoff).
    fake.advance(100ms);
    CHECK(fake.count(kind::spawn, "Server1") == 3);
    CHECK(set.find("Server1")->state == replica_state::up);
}

TEST_CASE("a replacement keeps its own id whatever /add and /rm do meanwhile") {
    replica_set set{fast_options()};
    fake_orchestrator fake{set};
    start_three(set, fake);
    set.exited("Server2", "exited", fake.now);
    fake.collect(); // the stop is held: the respawn is in the middle
    const std::vector<std::string> added{"S5", "S6", "S7", "S8"};
    for (std::size_t i = 0; i < added.size(); ++i) {
        set.join(added[i], set.next_id() + i, 1, fake.now);
    }
    const std::vector<std::string> removed{"Server1"};
    set.remove(removed);
    set.release_removed();
    fake.settle();
    set.commit(added, fake.now);
    fake.settle();
    std::set<std::uint64_t> ids;
    for (const auto& [name, record] : set.records()) {
        CHECK(ids.insert(record.id).second);
    }
    CHECK(set.find("Server2")->id == 2);
    CHECK(set.find("Server2")->state == replica_state::up);
    CHECK(set.find("Server1") == nullptr);
}

TEST_CASE("/add: joining replicas become members on commit, or go away on abandon") {
    replica_set set{fast_options()};
    fake_orchestrator fake{set};
    start_three(set, fake);
    const std::vector<std::string> names{"S4", "S5"};
    set.join("S4", 4, 1, fake.now);
    set.join("S5", 5, 2, fake.now);
    CHECK(set.progress("S4").state == replica_set::join_progress::kind::pending);
    fake.settle();
    CHECK(set.progress("S4").state == replica_set::join_progress::kind::ready);
    CHECK(set.member_names().size() == 3); // not members before the commit
    set.commit(names, fake.now);
    CHECK(set.member_names() ==
          std::vector<std::string>{"Server1", "Server2", "Server3", "S4", "S5"});
    CHECK(set.members()[4].weight == 2);

    // A spawn that fails, one that exits while starting, one that never gets healthy.
    fake.failing_spawns.insert("F1");
    set.join("F1", 6, 1, fake.now);
    fake.settle();
    CHECK(set.progress("F1").state == replica_set::join_progress::kind::failed);
    CHECK(set.progress("F1").reason == "cannot start");
    set.join("F2", 7, 1, fake.now);
    fake.settle();
    set.exited("F2", "exited", fake.now);
    CHECK(set.progress("F2").reason == "exited while starting");
    fake.healthy["F3"] = false;
    set.join("F3", 8, 1, fake.now);
    fake.settle();
    fake.advance(1000ms);
    CHECK(set.progress("F3").reason == "did not become healthy");
    const std::vector<std::string> failed{"F1", "F2", "F3"};
    set.abandon(failed);
    fake.settle();
    CHECK(set.find("F2") == nullptr);
    CHECK(set.find("F3") == nullptr);
    CHECK(fake.count(kind::spawn, "F2") == 1); // never respawned
}

TEST_CASE("/rm: members leave at once, are stopped only once the table is out, never return") {
    replica_set set{fast_options()};
    fake_orchestrator fake{set};
    start_three(set, fake);
    const std::vector<std::string> gone{"Server3"};
    set.remove(gone);
    CHECK(set.member_names() == std::vector<std::string>{"Server1", "Server2"});
    fake.settle();
    CHECK(fake.count(kind::stop, "Server3") == 0);
    set.exited("Server3", "exited", fake.now);
    fake.settle();
    set.release_removed();
    fake.settle();
    CHECK(fake.count(kind::stop, "Server3") == 1);
    CHECK(fake.history.back().graceful);
    CHECK(set.find("Server3") == nullptr);
    CHECK(fake.count(kind::spawn, "Server3") == 1);
}

TEST_CASE("a static backend starts nothing new: a down upstream is probed until it is back") {
    lifecycle_options options = fast_options();
    options.spawns = false;
    replica_set set{options};
    fake_orchestrator fake{set};
    fake.healthy["10.0.0.1:80"] = false;
    set.add_member("10.0.0.1:80", 1, 1, fake.now);
    set.add_member("10.0.0.2:80", 2, 1, fake.now);
    fake.settle();
    CHECK(set.serving() == std::vector<std::string>{"10.0.0.2:80"});
    fake.healthy["10.0.0.1:80"] = true;
    fake.advance(500ms);
    CHECK(set.serving().size() == 2);
    fake.healthy["10.0.0.2:80"] = false;
    fake.advance(500ms);
    fake.advance(500ms);
    CHECK(set.find("10.0.0.2:80")->state == replica_state::down);
    CHECK(fake.count(kind::spawn, "10.0.0.2:80") == 1);
    // A static /add answers after one probe, pass or fail.
    fake.healthy["10.0.0.3:80"] = false;
    set.join("10.0.0.3:80", 3, 1, fake.now);
    fake.settle();
    CHECK(set.progress("10.0.0.3:80").state == replica_set::join_progress::kind::ready);
}

TEST_CASE("--respawn-name new: a dead replica is replaced by a new name and a new id") {
    lifecycle_options options = fast_options();
    options.new_name_on_respawn = true;
    replica_set set{options};
    fake_orchestrator fake{set};
    start_three(set, fake);
    set.exited("Server2", "killed", fake.now);
    // The dead name leaves as soon as the death is seen.
    CHECK(set.member_names() == std::vector<std::string>{"Server1", "Server3", "Server4"});
    CHECK(set.serving() == std::vector<std::string>{"Server1", "Server3"});
    fake.settle();
    CHECK(set.serving() == std::vector<std::string>{"Server1", "Server3", "Server4"});
    CHECK(set.find("Server4")->id == 4);
    CHECK(set.find("Server2") == nullptr);
}

TEST_CASE("random interleavings keep every invariant") {
    // Exits, heartbeat results, spawn failures, /add, /rm and time, in random orders, with
    // answers held and given back in random orders. After every step: names and ids unique,
    // every replica that may be picked is a member that is up or suspect with an address, no
    // replica removed by /rm is ever started again, the member count is what /add and /rm
    // made it, and backoffs stay bounded.
    const int interleavings = 10000;
    int steps_checked = 0;
    for (int seed = 0; seed < interleavings; ++seed) {
        std::mt19937 random(static_cast<std::uint32_t>(seed));
        lifecycle_options options = fast_options();
        options.spawns = seed % 7 != 0;
        options.new_name_on_respawn = seed % 5 == 0;
        replica_set set{options};
        fake_orchestrator fake{set};
        std::size_t expected_members = 3;
        start_three(set, fake);
        // (name, id) removed by /rm -> how many commands had been issued at that moment.
        std::map<std::pair<std::string, std::uint64_t>, std::size_t> removed_at;
        std::vector<std::string> joining;
        for (int step = 0; step < 40; ++step) {
            const auto members = set.member_names();
            switch (random() % 10) {
            case 0:
                if (!members.empty()) {
                    set.exited(members[random() % members.size()], "killed", fake.now);
                }
                break;
            case 1:
                if (!members.empty()) {
                    const auto& name = members[random() % members.size()];
                    fake.healthy[name] = random() % 2 == 0;
                }
                break;
            case 2: {
                const std::string name = "J" + std::to_string(step);
                if (random() % 4 == 0) {
                    fake.failing_spawns.insert(name);
                }
                set.join(name, set.next_id(), 1 + random() % 3, fake.now);
                joining.push_back(name);
                break;
            }
            case 3:
                if (!joining.empty()) {
                    std::vector<std::string> ready, failed;
                    for (const auto& name : joining) {
                        (set.progress(name).state == replica_set::join_progress::kind::ready
                             ? ready
                             : failed)
                            .push_back(name);
                    }
                    set.commit(ready, fake.now);
                    set.abandon(failed);
                    expected_members += ready.size();
                    joining.clear();
                }
                break;
            case 4:
                if (!members.empty()) {
                    const std::string name = members[random() % members.size()];
                    fake.collect();
                    removed_at[{name, set.find(name)->id}] = fake.history.size();
                    std::vector<std::string> gone{name};
                    set.remove(gone);
                    --expected_members;
                    if (random() % 2 == 0) {
                        set.release_removed();
                    }
                }
                break;
            case 5:
                if (!members.empty()) {
                    set.suspect(members[random() % members.size()], fake.now);
                }
                break;
            default: {
                // Time passes; held answers come back in any order.
                fake.now += std::chrono::milliseconds(random() % 700);
                set.tick(fake.now);
                const std::size_t issued = fake.history.size();
                fake.collect();
                if (fake.history.size() == issued) {
                    // Nothing to do now: the next due time is later (the timer never spins).
                    const auto due = set.next_due();
                    if (due && *due <= fake.now) {
                        for (const auto& [name, r] : set.records()) {
                            UNSCOPED_INFO(name << " state " << to_string(r.state) << " spawning "
                                               << r.spawning << " probing " << r.probing
                                               << " stopping " << r.stopping << " addr "
                                               << r.address.has_value() << " healthy " << r.healthy
                                               << " fail '" << r.last_failure << "' next_probe "
                                               << (r.next_probe - fake.now).count() << " deadline "
                                               << (r.deadline - fake.now).count() << " respawn_at "
                                               << (r.respawn_at - fake.now).count());
                        }
                    }
                    REQUIRE((!due || *due > fake.now));
                }
                std::shuffle(fake.held.begin(), fake.held.end(), random);
                const std::size_t answer = fake.held.size() - fake.held.size() / 3;
                for (std::size_t i = 0; i < answer && !fake.held.empty(); ++i) {
                    auto c = fake.held.front();
                    fake.held.pop_front();
                    fake.answer(c);
                }
                break;
            }
            }
            fake.collect();
            // Invariants.
            std::set<std::uint64_t> ids;
            for (const auto& [name, record] : set.records()) {
                REQUIRE(ids.insert(record.id).second);
                REQUIRE(record.backoff <= options.max_backoff);
            }
            REQUIRE(set.member_names().size() == expected_members);
            const auto routable = set.routable();
            const auto names = set.member_names();
            const auto addresses = set.member_addresses();
            for (std::size_t i = 0; i < names.size(); ++i) {
                if (routable[i]) {
                    const replica_record* record = set.find(names[i]);
                    REQUIRE(record->member);
                    REQUIRE((record->state == replica_state::up ||
                             record->state == replica_state::suspect));
                    REQUIRE(addresses[i].has_value());
                }
            }
            for (const auto& [removed, at] : removed_at) {
                for (std::size_t i = at; i < fake.history.size(); ++i) {
                    const replica_command& c = fake.history[i];
                    if (c.what == kind::spawn && c.name == removed.first &&
                        c.id == removed.second) {
                        CAPTURE(seed, step, c.name, c.id, c.incarnation, at, i);
                        FAIL("a replica removed by /rm was started again");
                    }
                }
            }
            ++steps_checked;
        }
    }
    CHECK(steps_checked == interleavings * 40);
}
