// docs/communications.md, "Configuration": the `communications` section of
// the application file, read into settings the Runtime runs, its defaults,
// its refusals (each names its key and never quotes a token, a password, a
// header value or a URL) and its part of the JSON Schema.
#include <cstdlib>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "processpype/config/application_config.hpp"
#include "processpype/config/validation.hpp"
#include "processpype/testing/process.hpp"

#include "config_read.hpp"

using nlohmann::json;
namespace communications = processpype::communications;

// Named, the test cases too: the test files of a target share a unity build.
namespace communications_config_test {

namespace {

using config_tests::Read;
using config_tests::read;

/// A file whose `communications.backends` has one backend, `name`, given as
/// a YAML flow mapping.
std::string with_backend(const std::string& name, const std::string& mapping) {
  return "communications:\n  backends:\n    " + name + ": " + mapping + "\n";
}

const communications::BackendSettings& backend(const Read& read, const std::string& name) {
  for (const auto& backend : read.config.communications.backends)
    if (backend.name == name) return backend;
  FAIL("no backend " << name << "; problems:\n" << read.all());
  static const communications::BackendSettings none;
  return none;
}

/// One refusal, under `key`, whose text has none of `secrets`.
void check_refused(const std::string& text, const std::string& key, const std::string& reason_part,
                   const std::vector<std::string>& secrets = {}) {
  auto result = read(text);
  INFO(text << "\n-> " << result.all());
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].starts_with(key + ": "));
  CHECK_THAT(result.errors[0], Catch::Contains(reason_part));
  for (const auto& secret : secrets) CHECK_THAT(result.all(), !Catch::Contains(secret));
  CHECK(result.config.communications.backends.empty());
}

// The YAML of docs/communications.md, "Configuration", with the secrets
// from the environment the test sets.
const char* const documented_file = R"(
secrets:
  backends:
    env: {type: env}
communications:
  alerts: true
  alerts_min_interval_seconds: 60
  backends:
    ops-hook:
      type: webhook
      labels: [alerts, default]
      enabled: true
      url: https://hooks.example.com/services/T000/B000
      headers: {Authorization: "Bearer ${secret:env:CONFIG_TEST_HOOK_TOKEN}"}
      timeout_seconds: 5
    ops-mail:
      type: email
      labels: [alerts]
      host: smtp.example.com
      port: 587
      username: alerts
      password: ${secret:env:CONFIG_TEST_SMTP_PASSWORD}
      from_address: processpype@example.com
      default_recipients: [ops@example.com]
      start_tls: true
    ops-bot:
      type: telegram
      labels: [alerts, default]
      token: ${secret:env:CONFIG_TEST_TELEGRAM_TOKEN}
      chats:
        default: {chat_id: "-1001234567890"}
        alerts: {chat_id: -1001234567890, topic_id: 42}
      base_url: https://api.telegram.org
)";

}  // namespace

TEST_CASE("the documented communications section reads into the settings the node runs") {
  ::setenv("CONFIG_TEST_HOOK_TOKEN", "hook-7f3a", 1);
  ::setenv("CONFIG_TEST_SMTP_PASSWORD", "smtp-9c1d", 1);
  ::setenv("CONFIG_TEST_TELEGRAM_TOKEN", "123456:bot-4e2b", 1);
  auto result = read(documented_file);
  INFO(result.all());
  REQUIRE(result.errors.empty());
  const auto& settings = result.config.communications;
  CHECK(settings.alerts);
  CHECK(settings.alerts_min_interval_seconds == 60);
  REQUIRE(settings.backends.size() == 3);

  const auto& hook =
      std::get<communications::WebhookSettings>(backend(result, "ops-hook").transport);
  CHECK(backend(result, "ops-hook").labels == std::vector<std::string>{"alerts", "default"});
  CHECK(hook.url == "https://hooks.example.com/services/T000/B000");
  CHECK(hook.headers.at("Authorization") == "Bearer hook-7f3a");  // a secret reference, resolved
  CHECK(hook.timeout_seconds == 5);

  const auto& mail = std::get<communications::EmailSettings>(backend(result, "ops-mail").transport);
  CHECK(mail.host == "smtp.example.com");
  CHECK(mail.port == 587);
  CHECK(mail.username == "alerts");
  CHECK(mail.password == "smtp-9c1d");
  CHECK(mail.from_address == "processpype@example.com");
  CHECK(mail.default_recipients == std::vector<std::string>{"ops@example.com"});
  CHECK(mail.start_tls);
  CHECK_FALSE(mail.ca_file);

  const auto& bot =
      std::get<communications::TelegramSettings>(backend(result, "ops-bot").transport);
  CHECK(bot.token == "123456:bot-4e2b");
  CHECK(bot.chats.at("default").chat_id == "-1001234567890");
  CHECK_FALSE(bot.chats.at("default").topic_id);
  CHECK(bot.chats.at("alerts").chat_id == "-1001234567890");  // a number, read as text
  CHECK(bot.chats.at("alerts").topic_id == 42);
  CHECK(bot.base_url == "https://api.telegram.org");

  auto options = processpype::communications_options(settings);
  REQUIRE(options);
  CHECK(options->alerts);
  CHECK(options->alerts_min_interval == std::chrono::seconds(60));
  CHECK(options->backends.size() == 3);
}

TEST_CASE("communications defaults: no section, no backends, nothing runs") {
  auto result = read("app: {title: quiet}\n");
  REQUIRE(result.errors.empty());
  CHECK_FALSE(result.config.communications.alerts);
  CHECK(result.config.communications.alerts_min_interval_seconds == 60);
  CHECK_FALSE(processpype::communications_options(result.config.communications));

  auto minimal = read(with_backend("hook", "{type: webhook, url: 'http://127.0.0.1:9/x'}"));
  REQUIRE(minimal.errors.empty());
  const auto& settings = backend(minimal, "hook");
  CHECK(settings.labels == std::vector<std::string>{"default"});
  CHECK(settings.enabled);
  CHECK(std::get<communications::WebhookSettings>(settings.transport).timeout_seconds == 5);

  auto mail = read(with_backend(
      "mail", "{type: email, host: smtp, from_address: a@b.c, default_recipients: [d@e.f]}"));
  REQUIRE(mail.errors.empty());
  const auto& email = std::get<communications::EmailSettings>(backend(mail, "mail").transport);
  CHECK(email.port == 587);
  CHECK(email.start_tls);
  CHECK_FALSE(email.username);
  CHECK(email.timeout_seconds == 30);
}

TEST_CASE("communications refusals name the key and why") {
  check_refused(with_backend("hook", "{type: webhook, url: 'http://x', timout_seconds: 5}"),
                "communications.backends.hook.timout_seconds", "did you mean timeout_seconds?");
  check_refused(with_backend("mail", "{type: email, url: 'http://x'}"),
                "communications.backends.mail.url", "unknown key");
  check_refused(with_backend("hook", "{url: 'http://x'}"), "communications.backends.hook.type",
                "is required");
  check_refused(with_backend("hook", "{type: sms}"), "communications.backends.hook.type",
                "must be one of webhook, email, telegram");
  check_refused(with_backend("hook", "~"), "communications.backends.hook.type", "is required");
  check_refused(with_backend("hook", "[webhook]"), "communications.backends.hook",
                "must be a mapping");
  check_refused(with_backend("'two words'", "{type: webhook, url: 'http://x'}"),
                "communications.backends.two words", "a backend name is letters");
  check_refused(with_backend("hook", "{type: webhook, url: 'http://x', labels: []}"),
                "communications.backends.hook.labels", "at least one label");
  check_refused(with_backend("hook", "{type: webhook, url: 'http://x', timeout_seconds: 601}"),
                "communications.backends.hook.timeout_seconds", "from 0.001 to 600");
  check_refused(with_backend("mail", "{type: email, host: smtp, from_address: a@b.c}"),
                "communications.backends.mail.default_recipients", "at least one address");
  check_refused(with_backend("mail",
                             "{type: email, host: smtp, port: 0, from_address: a@b.c, "
                             "default_recipients: [d@e.f]}"),
                "communications.backends.mail.port", "between 1 and 65535");
  check_refused(with_backend("mail",
                             "{type: email, host: smtp, from_address: a@b.c, "
                             "default_recipients: [d@e.f], start_tls: false, ca_file: /x.pem}"),
                "communications.backends.mail.ca_file", "needs start_tls: true");
  check_refused(with_backend("bot",
                             "{type: telegram, token: 'a:b', labels: [alerts], chats: "
                             "{ops: {chat_id: '1'}}}"),
                "communications.backends.bot.chats",
                "no chat for label 'alerts' and no 'default' chat");
  check_refused(with_backend("bot",
                             "{type: telegram, token: 'a:b', chats: {default: {chat_id: "
                             "'1', topic_id: 0}}}"),
                "communications.backends.bot.chats.default.topic_id", "must be a positive integer");
  check_refused("communications: {alerts_min_interval_seconds: 0}\n",
                "communications.alerts_min_interval_seconds", "must be greater than 0");
  check_refused("communications: {alert: true}\n", "communications.alert", "did you mean alerts?");
}

TEST_CASE("communications refusals never quote a token, a password, a header value or a URL") {
  const std::string url = "https://hooks.example.com/T0/secret-path-5d1e";
  check_refused(with_backend("hook", "{type: webhook, url: 'ftp://user:pw-8a2c@x/path-8a2c'}"),
                "communications.backends.hook.url", "must start with http:// or https://",
                {"pw-8a2c", "path-8a2c"});
  check_refused(with_backend("hook", "{type: webhook, url: '" + url +
                                         "', headers: {X-Token: \"tok-31b7\\nInjected: 1\"}}"),
                "communications.backends.hook.headers.X-Token", "line break",
                {"tok-31b7", "secret-path-5d1e"});
  check_refused(
      with_backend("hook", "{type: webhook, url: '" + url + "', headers: {X-Token: [a]}}"),
      "communications.backends.hook.headers.X-Token", "must be a string", {"secret-path-5d1e"});
  check_refused(with_backend("bot",
                             "{type: telegram, token: 'tok/../6c4f', chats: {default: "
                             "{chat_id: '1'}}}"),
                "communications.backends.bot.token", "may hold only", {"6c4f"});
  check_refused(with_backend("mail",
                             "{type: email, host: smtp, password: pass-0b9e, "
                             "from_address: a@b.c, default_recipients: [d@e.f]}"),
                "communications.backends.mail.password", "without a username", {"pass-0b9e"});
  check_refused(with_backend("bot",
                             "{type: telegram, token: '1:a', base_url: 'https://:4/k-77e1', "
                             "chats: {default: {chat_id: '1'}}}"),
                "communications.backends.bot.base_url", "must name a host", {"k-77e1"});
}

TEST_CASE("a disabled backend is checked too, and alerts that go nowhere are a warning") {
  check_refused(with_backend("hook", "{type: webhook, enabled: false, url: 'nope'}"),
                "communications.backends.hook.url", "must start with http://");

  auto nowhere = read(
      "communications:\n  alerts: true\n  backends:\n"
      "    hook: {type: webhook, url: 'http://127.0.0.1:9/x', labels: [default]}\n"
      "    pager: {type: webhook, url: 'http://127.0.0.1:9/y', labels: [alerts], enabled: "
      "false}\n");
  INFO(nowhere.all());
  CHECK(nowhere.errors.empty());
  REQUIRE(nowhere.warnings.size() == 1);
  CHECK_THAT(nowhere.warnings[0],
             Catch::StartsWith("communications.alerts: no enabled backend has the label alerts"));
}

TEST_CASE("the schema describes communications, each backend type closed on its own keys") {
  auto schema = processpype::application_config_schema();
  const auto& section = schema["properties"]["communications"];
  CHECK(section["additionalProperties"] == false);
  CHECK(section["properties"]["alerts"]["default"] == false);
  CHECK(section["properties"]["alerts_min_interval_seconds"]["default"] == 60.0);
  const auto& entry = section["properties"]["backends"]["additionalProperties"];
  CHECK(entry["required"] == json{"type"});
  REQUIRE(entry["allOf"].size() == 3);
  std::map<std::string, json> by_type;
  for (const auto& rule : entry["allOf"])
    by_type[rule["if"]["properties"]["type"]["const"].get<std::string>()] = rule["then"];
  CHECK(by_type.at("webhook")["properties"].contains("url"));
  CHECK(by_type.at("webhook")["properties"]["timeout_seconds"]["default"] == 5.0);
  CHECK(by_type.at("email")["properties"]["port"]["default"] == 587);
  CHECK(by_type.at("email")["properties"]["timeout_seconds"]["default"] == 30.0);
  CHECK_FALSE(by_type.at("email")["properties"].contains("url"));
  CHECK(by_type.at("telegram")["properties"]["base_url"]["default"] == "https://api.telegram.org");
  const auto& chat = by_type.at("telegram")["properties"]["chats"]["additionalProperties"];
  CHECK(chat["required"] == json{"chat_id"});
  CHECK_FALSE(chat["properties"]["topic_id"].contains("default"));
  for (const auto& [type, typed] : by_type) {
    INFO(type);
    CHECK(typed["additionalProperties"] == false);
    CHECK(typed["properties"]["labels"]["default"] == json{"default"});
  }
}

}  // namespace communications_config_test
