// Backend settings: what validation accepts, what it refuses and how it says
// so (the field, a reason, never a secret); the dispatcher's own refusals.

#include <functional>
#include <string>
#include <type_traits>

#include <catch2/catch.hpp>

#include "communications_fixtures.hpp"
#include "processpype/communications/settings.hpp"
#include "processpype/testing/process.hpp"

using namespace processpype::communications;
using processpype::testing::TempFile;

namespace {

BackendSettings valid_webhook() {
  WebhookSettings webhook;
  webhook.url = "https://hooks.example.com/services/T000/B000/secretpath";
  webhook.headers = {{"Authorization", "Bearer s3cr3t-header"}, {"X-Team", "ops"}};
  return {"hook", {"alerts", "default"}, true, webhook};
}

BackendSettings valid_email() {
  EmailSettings email;
  email.host = "smtp.example.com";
  email.port = 587;
  email.username = "alerts";
  email.password = "pa55word";
  email.from_address = "processpype@example.com";
  email.default_recipients = {"ops@example.com"};
  return {"mail", {"alerts"}, true, email};
}

BackendSettings valid_telegram() {
  TelegramSettings telegram;
  telegram.token = "123456:AAE-secret_token";
  telegram.chats = {{"default", {"-1001234567890", std::nullopt}}, {"alerts", {"@ops", 7}}};
  return {"bot", {"alerts", "default"}, true, telegram};
}

template <class Transport>
Transport& transport_of(BackendSettings& backend) {
  return std::get<Transport>(backend.transport);
}

/// A maker of `valid()` with `change` applied to its `Part`: its transport
/// settings, or the backend itself when Part is BackendSettings.
template <class Part, class Change>
std::function<BackendSettings()> changed(BackendSettings (*valid)(), Change change) {
  return [valid, change] {
    auto backend = valid();
    if constexpr (std::is_same_v<Part, BackendSettings>)
      change(backend);
    else
      change(transport_of<Part>(backend));
    return backend;
  };
}

struct Refusal {
  const char* what;
  std::function<BackendSettings()> make;
  std::string field;
  std::string reason;
};

}  // namespace

TEST_CASE("Valid webhook, email and telegram settings pass validation") {
  CHECK_NOTHROW(validate(valid_webhook()));
  CHECK_NOTHROW(validate(valid_email()));
  CHECK_NOTHROW(validate(valid_telegram()));
  CHECK_NOTHROW(validate(std::vector{valid_webhook(), valid_email(), valid_telegram()}));

  TempFile ca("-----BEGIN CERTIFICATE-----\n", ".pem");
  auto email = valid_email();
  transport_of<EmailSettings>(email).ca_file = ca.path();
  CHECK_NOTHROW(validate(email));

  auto minimal = valid_email();
  transport_of<EmailSettings>(minimal).username.reset();
  transport_of<EmailSettings>(minimal).password.reset();
  transport_of<EmailSettings>(minimal).start_tls = false;
  CHECK_NOTHROW(validate(minimal));
}

TEST_CASE("Invalid settings are refused naming the field and the reason") {
  auto webhook = [](auto change) { return changed<WebhookSettings>(valid_webhook, change); };
  auto email = [](auto change) { return changed<EmailSettings>(valid_email, change); };
  auto telegram = [](auto change) { return changed<TelegramSettings>(valid_telegram, change); };
  auto backend = [](auto change) { return changed<BackendSettings>(valid_webhook, change); };
  const std::vector<Refusal> refusals = {
      {"an ftp URL", webhook([](auto& w) { w.url = "ftp://example.com/x"; }), "url",
       "webhook url must start with http:// or https://"},
      {"a URL without a host", webhook([](auto& w) { w.url = "https:///path"; }), "url",
       "webhook url must name a host"},
      {"a URL with a space", webhook([](auto& w) { w.url = "https://example.com/a b"; }), "url",
       "webhook url must not contain spaces or control characters"},
      {"a header name with a space", webhook([](auto& w) {
         w.headers = {{"X Bad", "v"}};
       }),
       "headers", "webhook header name 'X Bad' is not a valid HTTP header name"},
      {"a header value with a line break", webhook([](auto& w) {
         w.headers = {{"X-Token", "a\r\nInjected: yes"}};
       }),
       "headers.X-Token", "webhook header X-Token has a line break or NUL in its value"},
      {"a zero timeout", webhook([](auto& w) { w.timeout_seconds = 0; }), "timeout_seconds",
       "webhook timeout_seconds must be from 0.001 to 600"},
      // libcurl would read it as 0 ms: no timeout at all.
      {"a timeout under a millisecond", webhook([](auto& w) { w.timeout_seconds = 0.0004; }),
       "timeout_seconds", "webhook timeout_seconds must be from 0.001 to 600"},
      {"no host", email([](auto& e) { e.host = ""; }), "host", "email host must not be empty"},
      {"a host with a slash", email([](auto& e) { e.host = "smtp/x"; }), "host",
       "email host must be a host name or an IP address"},
      {"port 0", email([](auto& e) { e.port = 0; }), "port",
       "email port must be between 1 and 65535"},
      {"no from_address", email([](auto& e) { e.from_address = ""; }), "from_address",
       "email from_address must not be empty"},
      {"a from_address without @", email([](auto& e) { e.from_address = "nobody"; }),
       "from_address", "email from_address is not an address like name@example.com: nobody"},
      {"no recipient", email([](auto& e) { e.default_recipients.clear(); }), "default_recipients",
       "email default_recipients must list at least one address"},
      {"a recipient with a line break", email([](auto& e) {
         e.default_recipients = {"a@example.com", "b@x\r\nRCPT TO:<c@y>"};
       }),
       "default_recipients[1]", "email default_recipients[1] is not an address"},
      {"a password without a username", email([](auto& e) { e.username.reset(); }), "password",
       "email password is set without a username"},
      {"an unreadable ca_file", email([](auto& e) { e.ca_file = "/nonexistent/ca.pem"; }),
       "ca_file", "email ca_file cannot be read: /nonexistent/ca.pem"},
      {"a ca_file without start_tls", email([](auto& e) {
         e.ca_file = "/etc/hostname";
         e.start_tls = false;
       }),
       "ca_file", "email ca_file needs start_tls: true"},
      {"no token", telegram([](auto& t) { t.token = ""; }), "token",
       "telegram token must not be empty"},
      {"a token that would change the URL", telegram([](auto& t) { t.token = "123:abc/../x"; }),
       "token", "telegram token may hold only letters, digits, ':', '_' and '-'"},
      {"no chat", telegram([](auto& t) { t.chats.clear(); }), "chats",
       "telegram chats must name at least one chat"},
      {"an empty chat_id", telegram([](auto& t) { t.chats["alerts"].chat_id = " "; }),
       "chats.alerts.chat_id", "telegram chats.alerts.chat_id must not be empty"},
      {"a negative topic", telegram([](auto& t) { t.chats["alerts"].topic_id = -1; }),
       "chats.alerts.topic_id", "telegram chats.alerts.topic_id must be positive"},
      {"a label without a chat and no default", telegram([](auto& t) { t.chats.erase("default"); }),
       "chats", "telegram chats has no chat for label 'default' and no 'default' chat"},
      {"a base_url that is not http", telegram([](auto& t) { t.base_url = "api.telegram.org"; }),
       "base_url", "telegram base_url must start with http:// or https://"},
      {"no label", backend([](auto& b) { b.labels.clear(); }), "labels",
       "labels must list at least one label"},
      {"an empty label", backend([](auto& b) {
         b.labels = {"alerts", ""};
       }),
       "labels[1]", "labels[1] must not be empty"},
      {"no name", backend([](auto& b) { b.name.clear(); }), "name",
       "a backend's name must not be empty"},
  };
  for (const auto& refusal : refusals) {
    INFO(refusal.what);
    try {
      validate(refusal.make());
      FAIL("accepted");
    } catch (const InvalidSettings& error) {
      CHECK(error.field() == refusal.field);
      CHECK_THAT(error.what(), Catch::StartsWith(refusal.reason));
    }
  }
}

TEST_CASE("A disabled backend is validated too") {
  auto backend = valid_webhook();
  backend.enabled = false;
  transport_of<WebhookSettings>(backend).url = "mailto:ops@example.com";
  CHECK_THROWS_AS(validate(backend), InvalidSettings);
}

TEST_CASE("Refusals never quote a token, a password, a header value or a URL") {
  auto webhook = valid_webhook();
  transport_of<WebhookSettings>(webhook).url = "htp://hooks.example.com/secretpath";
  auto header = valid_webhook();
  transport_of<WebhookSettings>(header).headers = {{"Authorization", "Bearer s3cr3t\n"}};
  auto token = valid_telegram();
  transport_of<TelegramSettings>(token).token = "123456:AAE secret";
  auto password = valid_email();
  transport_of<EmailSettings>(password).username.reset();

  for (const auto& [backend, secret] : std::vector<std::pair<BackendSettings, std::string>>{
           {webhook, "secretpath"}, {header, "s3cr3t"}, {token, "AAE"}, {password, "pa55word"}}) {
    try {
      validate(backend);
      FAIL("accepted");
    } catch (const InvalidSettings& error) {
      INFO(error.what());
      CHECK(std::string(error.what()).find(secret) == std::string::npos);
      CHECK(error.field().find(secret) == std::string::npos);
    }
  }
}

TEST_CASE("Backend names must be unique") {
  auto second = valid_email();
  second.name = "hook";
  try {
    validate(std::vector{valid_webhook(), second});
    FAIL("accepted");
  } catch (const InvalidSettings& error) {
    CHECK(error.field() == "name");
    CHECK(std::string(error.what()) == "two backends are named 'hook'");
  }
}

TEST_CASE("A dispatcher refuses invalid settings and options before it starts") {
  auto bad = valid_webhook();
  transport_of<WebhookSettings>(bad).url = "file:///etc/passwd";
  CHECK_THROWS_AS(Dispatcher({bad}, {}), InvalidSettings);

  DispatcherOptions no_queue;
  no_queue.queue_capacity = 0;
  CHECK_THROWS_WITH(Dispatcher({valid_webhook()}, no_queue),
                    "communications queue capacity must be at least 1");
  DispatcherOptions no_attempt;
  no_attempt.retry.max_attempts = 0;
  CHECK_THROWS_WITH(Dispatcher({valid_webhook()}, no_attempt),
                    "communications max_attempts must be at least 1");
}

TEST_CASE("A dispatcher leaves disabled backends out and counts per enabled backend") {
  auto disabled = valid_telegram();
  disabled.enabled = false;
  Dispatcher dispatcher({valid_webhook(), disabled, valid_email()},
                        processpype::testing::test_options());
  auto counters = dispatcher.counters();
  REQUIRE(counters.size() == 2);
  CHECK(counters[0].backend == "hook");
  CHECK(counters[0].type == "webhook");
  CHECK(counters[1].backend == "mail");
  CHECK(counters[1].type == "email");
  CHECK(counters[1].sent + counters[1].dropped + counters[1].failed + counters[1].queued == 0);
}
