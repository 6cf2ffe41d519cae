// Webhook and telegram backends against a real HTTP receiver on 127.0.0.1:
// what they send, label routing, retries, final refusals, counters and the
// failure log.

#include <map>
#include <regex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "communications_fixtures.hpp"
#include "message_checks.hpp"
#include "processpype/runtime/service_status.hpp"

using namespace processpype::communications;
using namespace processpype::testing;

namespace {

Message message_with(std::string text, std::string label = "default") {
  Message message;
  message.message = std::move(text);
  message.label = std::move(label);
  return message;
}

std::size_t occurrences(const std::string& text, const std::string& part) {
  std::size_t count = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++count;
  return count;
}

}  // namespace

// -- webhook ------------------------------------------------------------------

TEST_CASE("A webhook POSTs the message as JSON with its configured headers") {
  HttpReceiver receiver;
  auto backend = webhook_backend("hook", receiver.url("/hooks/abc?team=ops"));
  std::get<WebhookSettings>(backend.transport).headers = {{"Authorization", "Bearer token-1"},
                                                          {"X-Team", "ops"}};
  Dispatcher dispatcher({backend}, test_options());

  auto message = store_error("store failed: disk full\nsecond line");
  message.subject = "Store down";
  message.metadata = {{"restarts", 3}, {"exit_code", 1}};
  auto before = processpype::format_utc(std::chrono::system_clock::now());
  dispatcher.emit(message);
  REQUIRE(dispatcher.flush(10s));
  auto after = processpype::format_utc(std::chrono::system_clock::now());

  auto requests = receiver.requests();
  REQUIRE(requests.size() == 1);
  auto& request = requests[0];
  CHECK(request.method == "POST");
  CHECK(request.path == "/hooks/abc?team=ops");
  CHECK(request.headers["authorization"] == "Bearer token-1");
  CHECK(request.headers["x-team"] == "ops");
  CHECK(request.headers["content-type"] == "application/json");
  CHECK_THAT(request.headers["user-agent"], Catch::StartsWith("processpype/"));

  const auto& body = request.body_json;
  REQUIRE(body.is_object());
  CHECK(body.size() == 8);
  CHECK(body["message"] == message.message);
  CHECK(body["label"] == "default");
  CHECK(body["source"] == "store");
  CHECK(body["severity"] == "error");
  CHECK(body["subject"] == "Store down");
  CHECK(body["metadata"] == message.metadata);
  CHECK(body["node"] == "node-1");
  auto time = body["time"].get<std::string>();
  CHECK(std::regex_match(time, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
  CHECK(time >= before);  // the emit's time, in the same format
  CHECK(time <= after);

  auto counters = counters_of(dispatcher, "hook");
  CHECK(counters.sent == 1);
  CHECK(counters.failed == 0);
  CHECK(counters.dropped == 0);
  CHECK(counters.queued == 0);
}

TEST_CASE("A webhook sends text that is not valid UTF-8 with the bad bytes replaced") {
  HttpReceiver receiver;
  Dispatcher dispatcher({webhook_backend("hook", receiver.url())}, test_options());
  dispatcher.emit(message_with("caf\xC3\xA9 \xFF\xFE end"));
  REQUIRE(dispatcher.flush(10s));
  auto requests = receiver.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].body_json["message"] == "caf\xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD end");
  CHECK(counters_of(dispatcher, "hook").sent == 1);
}

TEST_CASE("A message goes to every enabled backend that handles its label, and nowhere else") {
  HttpReceiver receiver;
  auto disabled = webhook_backend("disabled", receiver.url("/disabled"), {"alerts", "default"});
  disabled.enabled = false;
  Dispatcher dispatcher(
      {webhook_backend("alerts-only", receiver.url("/alerts-only"), {"alerts"}),
       webhook_backend("default-only", receiver.url("/default-only")),
       webhook_backend("both", receiver.url("/both"), {"default", "alerts"}), disabled},
      test_options());

  dispatcher.emit(message_with("disk full", "alerts"));
  dispatcher.emit(message_with("deployed v2"));
  dispatcher.emit(message_with("nobody handles this", "audit"));
  REQUIRE(dispatcher.flush(10s));

  std::map<std::string, std::vector<std::string>> received;
  for (const auto& request : receiver.requests())
    received[request.path].push_back(request.body_json["message"]);
  CHECK(received == std::map<std::string, std::vector<std::string>>{
                        {"/alerts-only", {"disk full"}},
                        {"/default-only", {"deployed v2"}},
                        {"/both", {"disk full", "deployed v2"}},
                    });
  CHECK(counters_of(dispatcher, "both").sent == 2);
  CHECK(dispatcher.counters().size() == 3);  // the disabled one is not there at all
}

TEST_CASE("A webhook retries after 5xx and 429 answers, then counts the message sent") {
  auto status = GENERATE(500, 503, 429);
  HttpReceiver receiver({.fail_first = 2, .fail_status = status});
  Dispatcher dispatcher({webhook_backend("hook", receiver.url())}, test_options());
  dispatcher.emit(message_with("retried"));
  REQUIRE(dispatcher.flush(10s));

  auto requests = receiver.requests();
  REQUIRE(requests.size() == 3);
  for (const auto& request : requests) CHECK(request.body_json["message"] == "retried");
  auto counters = counters_of(dispatcher, "hook");
  CHECK(counters.sent == 1);
  CHECK(counters.failed == 0);
}

TEST_CASE("A 4xx answer other than 429 is final: not retried, counted failed, logged") {
  auto status = GENERATE(400, 401, 404);
  HttpReceiver receiver({.status = status});
  auto log = std::make_shared<RecordingSink>();
  Dispatcher dispatcher({webhook_backend("hook", receiver.url())}, test_options(log));
  dispatcher.emit(message_with("refused"));
  REQUIRE(dispatcher.flush(10s));

  CHECK(receiver.requests().size() == 1);
  check_one_failed(dispatcher, "hook");
  CHECK_THAT(log->text(), Catch::Contains("backend hook (webhook): a message failed after 1 "
                                          "attempt: http://127.0.0.1:" +
                                          std::to_string(receiver.port()) + " answered HTTP " +
                                          std::to_string(status)));
}

TEST_CASE("A webhook gives up after its last attempt and counts the message failed") {
  HttpReceiver receiver({.fail_first = 1000});
  Dispatcher dispatcher({webhook_backend("hook", receiver.url())}, test_options());
  dispatcher.emit(message_with("never accepted"));
  REQUIRE(dispatcher.flush(10s));
  CHECK(receiver.requests().size() == 4);  // max_attempts
  check_one_failed(dispatcher, "hook");
}

TEST_CASE("A refused connection is retried, then counted failed") {
  auto log = std::make_shared<RecordingSink>();
  auto url = "http://127.0.0.1:" + std::to_string(free_port()) + "/";  // nobody listens
  Dispatcher dispatcher({webhook_backend("hook", url)}, test_options(log));
  dispatcher.emit(message_with("nobody there"));
  REQUIRE(dispatcher.flush(10s));
  CHECK(counters_of(dispatcher, "hook").failed == 1);
  CHECK_THAT(log->text(), Catch::Contains("a message failed after 4 attempts"));
}

TEST_CASE("Send failures are logged at most once per interval, and never a secret") {
  HttpReceiver receiver({.status = 500});
  auto backend = webhook_backend("hook", receiver.url("/services/SECRETPATH?key=SECRETQUERY"));
  std::get<WebhookSettings>(backend.transport).headers = {{"Authorization", "Bearer SECRETHEADER"}};
  auto log = std::make_shared<RecordingSink>();
  auto options = test_options(log);
  options.retry.max_attempts = 1;
  options.failure_log_interval = std::chrono::hours(1);
  {
    Dispatcher dispatcher({backend}, options);
    for (int i = 0; i < 5; ++i) dispatcher.emit(message_with("failing " + std::to_string(i)));
    REQUIRE(dispatcher.flush(10s));
    CHECK(counters_of(dispatcher, "hook").failed == 5);
    CHECK(occurrences(log->text(), "a message failed") == 1);
  }
  // The failures held back are told at shutdown.
  auto text = log->text();
  CHECK_THAT(text, Catch::Contains("backend hook (webhook): 4 more messages failed since the "
                                   "last report"));
  for (const char* secret : {"SECRETPATH", "SECRETQUERY", "SECRETHEADER"}) {
    INFO(secret);
    CHECK(text.find(secret) == std::string::npos);
  }
}

// -- telegram -----------------------------------------------------------------

TEST_CASE("Telegram calls sendMessage for the chat of the message's label, in its topic") {
  HttpReceiver receiver;
  auto backend = telegram_backend("bot", receiver.url("/"),
                                  {{"alerts", {"-1001234", 42}}, {"default", {"@ops", {}}}},
                                  {"alerts", "default", "deploys"});
  Dispatcher dispatcher({backend}, test_options());

  Message alert = message_with("disk full", "alerts");
  alert.source = "store";
  alert.severity = "error";
  dispatcher.emit(alert);
  Message deployed = message_with("v2 is live");
  deployed.subject = "Deployed";
  dispatcher.emit(deployed);
  dispatcher.emit(message_with("to the default chat", "deploys"));  // no chat of its own
  REQUIRE(dispatcher.flush(10s));

  auto requests = receiver.requests();
  REQUIRE(requests.size() == 3);
  for (const auto& request : requests) {
    CHECK(request.method == "POST");
    CHECK(request.path == "/bot123456:test-token_ABC/sendMessage");
    CHECK(request.headers.at("content-type") == "application/json");
  }
  CHECK(requests[0].body_json == nlohmann::json{{"chat_id", "-1001234"},
                                                {"message_thread_id", 42},
                                                {"text", "[error] store: disk full"}});
  CHECK(requests[1].body_json ==
        nlohmann::json{{"chat_id", "@ops"}, {"text", "Deployed\n\nv2 is live"}});
  CHECK(requests[2].body_json ==
        nlohmann::json{{"chat_id", "@ops"}, {"text", "[info] to the default chat"}});
  CHECK(counters_of(dispatcher, "bot").sent == 3);
}

TEST_CASE("Telegram waits the retry_after of a 429 before it tries again") {
  HttpReceiver receiver({.fail_first = 1, .fail_status = 429, .retry_after = 1});
  auto options = test_options();
  options.retry.max_delay = 5s;
  Dispatcher dispatcher({telegram_backend("bot", receiver.url(), {{"default", {"1", {}}}})},
                        options);
  dispatcher.emit(message_with("flood"));
  REQUIRE(dispatcher.flush(10s));

  auto requests = receiver.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[1].time - requests[0].time >= 0.99);  // not the 10 ms backoff
  CHECK(counters_of(dispatcher, "bot").sent == 1);
}

TEST_CASE("Telegram refusals are logged with the API's description, never the token") {
  HttpReceiver receiver({.status = 401});
  auto log = std::make_shared<RecordingSink>();
  Dispatcher dispatcher({telegram_backend("bot", receiver.url(), {{"default", {"1", {}}}})},
                        test_options(log));
  dispatcher.emit(message_with("unauthorized"));
  REQUIRE(dispatcher.flush(10s));

  CHECK(receiver.requests().size() == 1);
  CHECK(counters_of(dispatcher, "bot").failed == 1);
  auto text = log->text();
  CHECK_THAT(text, Catch::Contains("backend bot (telegram): a message failed after 1 attempt: "
                                   "http://127.0.0.1:" +
                                   std::to_string(receiver.port()) +
                                   " answered HTTP 401: test answer 401"));
  CHECK(text.find("test-token_ABC") == std::string::npos);
  CHECK(text.find("123456:") == std::string::npos);
}
