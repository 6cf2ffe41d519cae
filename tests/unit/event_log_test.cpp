// EventLog: the ring of a node's last events, what /events and the event
// streams read.
#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "processpype/runtime/events.hpp"

using nlohmann::json;
using processpype::Event;
using processpype::EventCause;
using processpype::EventLog;

namespace {

std::vector<std::uint64_t> seqs_of(const processpype::EventSlice& slice) {
  std::vector<std::uint64_t> seqs;
  for (const auto& event : slice.events) seqs.push_back(event.seq);
  return seqs;
}

std::vector<std::uint64_t> range(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> seqs;
  for (auto seq = first; seq <= last; ++seq) seqs.push_back(seq);
  return seqs;
}

void append_many(EventLog& log, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i)
    log.append("svc" + std::to_string(i), "running", "", EventCause::request);
}

}  // namespace

TEST_CASE("seqs increase from 1 and events carry what was appended") {
  EventLog log{"node-a", "b00t"};
  CHECK(log.last_seq() == 0);
  CHECK(log.append("echo", "registered", "", EventCause::request) == 1);
  CHECK(log.append("echo", "error", "boom", EventCause::failure) == 2);
  CHECK(log.last_seq() == 2);
  auto slice = log.since(0);
  REQUIRE(slice.events.size() == 2);
  const auto& failed = slice.events[1];
  CHECK(failed.seq == 2);
  CHECK(failed.boot == "b00t");
  CHECK(failed.node == "node-a");
  CHECK(failed.service == "echo");
  CHECK(failed.state == "error");
  CHECK(failed.error == "boom");
  CHECK(failed.cause == EventCause::failure);
  CHECK(slice.last_seq == 2);
  CHECK(slice.oldest_seq == 1);
  CHECK_FALSE(slice.gap);
}

TEST_CASE("since(after) returns the later events, oldest first") {
  EventLog log{"node"};
  append_many(log, 5);
  CHECK(seqs_of(log.since(2)) == range(3, 5));
  CHECK(seqs_of(log.since(0)) == range(1, 5));
  auto none = log.since(5);
  CHECK(none.events.empty());
  CHECK_FALSE(none.gap);
  CHECK(none.last_seq == 5);
}

TEST_CASE("an empty log has nothing to return and no gap from 0") {
  EventLog log{"node"};
  auto slice = log.since(0);
  CHECK(slice.events.empty());
  CHECK_FALSE(slice.gap);
  CHECK(slice.last_seq == 0);
  CHECK(log.since(7).gap);  // a seq this boot never had
}

TEST_CASE("the ring keeps the last 1000 events") {
  EventLog log{"node"};
  append_many(log, 1500);
  REQUIRE(log.capacity() == 1000);
  CHECK(log.last_seq() == 1500);

  auto all = log.since(0);
  CHECK(seqs_of(all) == range(501, 1500));
  CHECK_FALSE(all.gap);  // from 0 means "whatever is kept"
  CHECK(all.oldest_seq == 501);
  CHECK(all.last_seq == 1500);

  auto lost = log.since(10);
  CHECK(lost.gap);  // 11..500 are gone
  CHECK(lost.oldest_seq == 501);
  CHECK(seqs_of(lost) == range(501, 1500));

  auto kept = log.since(500);
  CHECK_FALSE(kept.gap);  // nothing between 500 and the buffer was lost
  CHECK(seqs_of(kept) == range(501, 1500));

  auto recent = log.since(1490);
  CHECK_FALSE(recent.gap);
  CHECK(seqs_of(recent) == range(1491, 1500));
  CHECK(recent.events.back().service == "svc1499");
}

TEST_CASE("an embedder's smaller log keeps its last events and reports the rest as gone") {
  EventLog log{"node", "boot", 3};
  append_many(log, 5);
  CHECK(log.capacity() == 3);
  auto all = log.since(0);
  CHECK(seqs_of(all) == range(3, 5));
  CHECK(all.oldest_seq == 3);
  CHECK(log.since(1).gap);
  CHECK_FALSE(log.since(2).gap);
  CHECK(EventLog{"node", "boot", 0}.capacity() == 1);
  CHECK(EventLog{"node", "boot", 5000}.capacity() == EventLog::max_capacity);
}

TEST_CASE("a seq beyond the last (another boot's) is a gap followed by everything kept") {
  EventLog log{"node"};
  append_many(log, 3);
  auto slice = log.since(99);
  CHECK(slice.gap);
  CHECK(seqs_of(slice) == range(1, 3));

  EventLog full{"node"};
  append_many(full, 1200);
  auto wrapped = full.since(5000);
  CHECK(wrapped.gap);
  CHECK(seqs_of(wrapped) == range(201, 1200));
}

TEST_CASE("a log picks a 12-hex-digit boot id of its own") {
  EventLog first{"node"};
  EventLog second{"node"};
  CHECK(first.boot().size() == 12);
  for (char c : first.boot()) CHECK(std::isxdigit(static_cast<unsigned char>(c)));
  CHECK(first.boot() != second.boot());
  CHECK(EventLog{"node", "given"}.boot() == "given");
}

TEST_CASE("set_node names the node in later events only") {
  EventLog log{"before"};
  log.append("a", "running", "", EventCause::request);
  log.set_node("after");
  log.append("a", "stopped", "", EventCause::request);
  CHECK(log.node() == "after");
  auto slice = log.since(0);
  CHECK(slice.events[0].node == "before");
  CHECK(slice.events[1].node == "after");
}

TEST_CASE("listeners hear each append's seq, removed ones hear nothing more") {
  EventLog log{"node"};
  std::vector<std::uint64_t> first, second;
  auto one = log.add_listener([&](std::uint64_t seq) { first.push_back(seq); });
  auto two = log.add_listener([&](std::uint64_t seq) { second.push_back(seq); });
  CHECK(one != two);
  log.append("a", "running", "", EventCause::request);
  log.remove_listener(one);
  log.append("a", "stopped", "", EventCause::request);
  CHECK(first == std::vector<std::uint64_t>{1});
  CHECK(second == std::vector<std::uint64_t>{1, 2});
  log.remove_listener(two);
  log.append("a", "running", "", EventCause::request);
  CHECK(second == std::vector<std::uint64_t>{1, 2});
}

TEST_CASE("an event renders every field, error null when empty") {
  Event event;
  event.seq = 7;
  event.boot = "abcdef012345";
  event.time = std::chrono::system_clock::time_point{} + std::chrono::milliseconds(1500);
  event.node = "n1";
  event.service = "echo";
  event.state = "running";
  event.cause = EventCause::autostart;
  auto rendered = processpype::to_json(event);
  CHECK(rendered == json{{"seq", 7},
                         {"boot", "abcdef012345"},
                         {"time", "1970-01-01T00:00:01.500Z"},
                         {"node", "n1"},
                         {"service", "echo"},
                         {"state", "running"},
                         {"error", nullptr},
                         {"cause", "autostart"},
                         {"request_id", nullptr},
                         {"from_node", nullptr}});
  event.error = "boom";
  CHECK(processpype::to_json(event)["error"] == "boom");
  event.cause = EventCause::failover;
  event.from_node = "n2";
  CHECK(processpype::to_json(event)["from_node"] == "n2");
}

TEST_CASE("event causes have names that parse back") {
  for (auto cause : {EventCause::request, EventCause::autostart, EventCause::startup,
                     EventCause::restart, EventCause::failure, EventCause::health,
                     EventCause::dependency, EventCause::shutdown, EventCause::failover,
                     EventCause::handover, EventCause::rebalance, EventCause::lease_lost}) {
    auto name = processpype::to_string(cause);
    INFO(name);
    CHECK(processpype::event_cause_from_string(name) == cause);
  }
  CHECK(processpype::to_string(EventCause::dependency) == "dependency");
  CHECK(processpype::to_string(EventCause::lease_lost) == "lease_lost");
  CHECK_FALSE(processpype::event_cause_from_string("Request"));
  CHECK_FALSE(processpype::event_cause_from_string(""));
}
