// The C++ block of docs/communications.md, "From C++", cut from here
// (docs/embedding.md, "The C++ blocks of these docs"), and what it does.
#include <chrono>
#include <string>

#include <catch2/catch.hpp>

#include "processpype/communications/dispatcher.hpp"
#include "receivers.hpp"

namespace {

// [snippet:dispatcher]
namespace communications = processpype::communications;

void tell_operators(const std::string& webhook_url) {
  communications::WebhookSettings hook{.url = webhook_url};
  communications::Dispatcher dispatcher({{"ops-hook", {"alerts"}, true, hook}}, {.node = "node-1"});
  dispatcher.emit(
      {.message = "disk full", .label = "alerts", .source = "store", .severity = "error"});
  dispatcher.flush(std::chrono::seconds(5));  // before shutdown, to deliver what is queued
}
// [snippet-end:dispatcher]

}  // namespace

TEST_CASE("the dispatcher of the docs delivers an alert to a webhook") {
  processpype::testing::HttpReceiver receiver;
  tell_operators(receiver.url("/hooks/ops"));
  auto requests = receiver.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].path == "/hooks/ops");
  CHECK(requests[0].body_json["message"] == "disk full");
  CHECK(requests[0].body_json["label"] == "alerts");
  CHECK(requests[0].body_json["node"] == "node-1");
}
