// The email backend against a real SMTP server on 127.0.0.1 (aiosmtpd): the
// message as a mail reader sees it, STARTTLS verified with a throwaway CA,
// AUTH, recipients, retries and refusals.

#include <regex>
#include <string>

#include <catch2/catch.hpp>

#include "communications_fixtures.hpp"
#include "processpype/testing/tls.hpp"

using namespace processpype::communications;
using namespace processpype::testing;
using nlohmann::json;

namespace {

/// A CA `ca`, a CA `other`, and a server certificate for 127.0.0.1 signed
/// by `ca`.
struct Certificates {
  TestPki pki;
  Certificates() {
    pki.make_ca("ca");
    pki.make_ca("other");
    pki.make_server("server", "ca", 1);
  }
  SmtpReceiverOptions server_options() const {
    return {.tls_certificate = pki.certificate("server"),
            .tls_key = pki.key("server"),
            .require_starttls = true,
            .user = "alerts",
            .password = "pa55-word"};
  }
};

EmailSettings tls_email(int port, const std::string& ca_file, const std::string& password) {
  auto email = plain_email(port);
  email.start_tls = true;
  email.ca_file = ca_file;
  email.username = "alerts";
  email.password = password;
  return email;
}

/// What sending one message did: the backend's counters, the dispatcher's log.
struct Outcome {
  BackendCounters counters;
  std::string log;
};

/// Emits `message` to one email backend and waits until it is settled.
Outcome send_one(const EmailSettings& email, const Message& message) {
  auto log = std::make_shared<RecordingSink>();
  BackendCounters counters;
  {
    Dispatcher dispatcher({email_backend("mail", email)}, test_options(log));
    dispatcher.emit(message);
    REQUIRE(dispatcher.flush(20s));
    counters = counters_of(dispatcher, "mail");
  }
  return {counters, log->text()};
}

/// The message failed at its first attempt (a final refusal): nothing arrived.
void check_failed_at_once(const Outcome& outcome, const SmtpReceiver& smtp) {
  CHECK(outcome.counters.sent == 0);
  CHECK(outcome.counters.failed == 1);
  CHECK(smtp.messages().empty());
  CHECK_THAT(outcome.log, Catch::Contains("a message failed after 1 attempt"));
}

}  // namespace

TEST_CASE("An email carries its subject, recipients and body as an RFC 5322 message") {
  SmtpReceiver smtp;
  auto message = store_error("store failed: disk full\nrestarting in 5 s");
  message.metadata = {{"restarts", 2}};
  CHECK(send_one(plain_email(smtp.port()), message).counters.sent == 1);

  auto messages = smtp.messages();
  REQUIRE(messages.size() == 1);
  auto& mail = messages[0];
  CHECK(mail["mail_from"] == "processpype@example.com");
  CHECK(mail["rcpt_tos"] == json{"ops@example.com", "oncall@example.org"});
  CHECK(mail["tls"] == false);
  CHECK(mail["authenticated"] == false);

  auto& headers = mail["headers"];
  CHECK(headers["From"] == "processpype@example.com");
  CHECK(headers["To"] == "ops@example.com, oncall@example.org");
  CHECK(mail["subject"] == "[error] store: store failed: disk full");  // made from the message
  CHECK(headers["MIME-Version"] == "1.0");
  CHECK_THAT(headers["Content-Type"].get<std::string>(),
             Catch::StartsWith("text/plain") && Catch::Contains("utf-8"));
  CHECK(
      std::regex_match(headers["Date"].get<std::string>(),
                       std::regex(R"((Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|)"
                                  R"(Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d \+0000)")));
  CHECK(std::regex_match(headers["Message-ID"].get<std::string>(),
                         std::regex(R"(<\d+\.[0-9a-f]{16}@example\.com>)")));

  auto body = mail["body"].get<std::string>();
  CHECK_THAT(body, Catch::StartsWith("store failed: disk full\nrestarting in 5 s\n\n-- \n"));
  for (const char* line : {"Source: store\n", "Severity: error\n", "Label: default\n",
                           "Node: node-1\n", "Metadata: {\"restarts\":2}\n"})
    CHECK_THAT(body, Catch::Contains(line));
  CHECK_THAT(mail["raw"].get<std::string>(), Catch::Contains("Content-Transfer-Encoding: 7bit"));
}

TEST_CASE("A given subject is used as it is, and each email has its own Message-ID") {
  SmtpReceiver smtp;
  Dispatcher dispatcher({email_backend("mail", plain_email(smtp.port()))}, test_options());
  auto message = store_error("details");
  message.subject = "Weekly report";
  dispatcher.emit(message);
  dispatcher.emit(message);
  REQUIRE(dispatcher.flush(20s));
  auto messages = smtp.messages();
  REQUIRE(messages.size() == 2);
  CHECK(messages[0]["subject"] == "Weekly report");
  CHECK(messages[0]["headers"]["Message-ID"] != messages[1]["headers"]["Message-ID"]);
}

TEST_CASE("Email subjects and bodies that are not ASCII arrive intact") {
  SmtpReceiver smtp;
  auto message =
      store_error("Ünïcödé body ✓\n" + std::string(1200, 'x'));  // also an over-long line
  message.subject = "Störung im Speicher ✓ — 日本語のテキストも正しく届くこと";
  CHECK(send_one(plain_email(smtp.port()), message).counters.sent == 1);

  auto messages = smtp.messages();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0]["subject"] == message.subject);
  CHECK_THAT(messages[0]["body"].get<std::string>(), Catch::StartsWith(message.message + "\n"));
  auto raw = messages[0]["raw"].get<std::string>();
  CHECK_THAT(raw, Catch::Contains("Subject: =?UTF-8?B?"));
  CHECK_THAT(raw, Catch::Contains("Content-Transfer-Encoding: base64"));
}

TEST_CASE("Email lines starting with a dot and bare line feeds arrive as written") {
  SmtpReceiver smtp;
  CHECK(
      send_one(plain_email(smtp.port()), store_error("first\n.\n.hidden\r\nlast")).counters.sent ==
      1);
  auto messages = smtp.messages();
  REQUIRE(messages.size() == 1);
  CHECK_THAT(messages[0]["body"].get<std::string>(),
             Catch::StartsWith("first\n.\n.hidden\nlast\n"));
}

TEST_CASE("Email uses STARTTLS verified against the given CA, then AUTH") {
  Certificates certificates;
  SmtpReceiver smtp(certificates.server_options());
  auto sent = send_one(tls_email(smtp.port(), certificates.pki.certificate("ca"), "pa55-word"),
                       store_error("over TLS"));
  CHECK(sent.counters.sent == 1);

  auto messages = smtp.messages();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0]["tls"] == true);
  CHECK(messages[0]["authenticated"] == true);
  CHECK(messages[0]["login"] == "alerts");
}

TEST_CASE("Email refuses a server whose certificate the given CA did not sign") {
  Certificates certificates;
  SmtpReceiver smtp(certificates.server_options());
  auto refused =
      send_one(tls_email(smtp.port(), certificates.pki.certificate("other"), "pa55-word"),
               store_error("must not leave"));
  // Final: another attempt would meet the same certificate.
  check_failed_at_once(refused, smtp);
  CHECK_THAT(refused.log, Catch::Contains("a message failed after 1 attempt: smtp://127.0.0.1:"));
}

TEST_CASE("Email with start_tls refuses a server that does not offer STARTTLS") {
  SmtpReceiver smtp;  // no TLS at all
  auto email = plain_email(smtp.port());
  email.start_tls = true;
  check_failed_at_once(send_one(email, store_error("must not go in clear")), smtp);
}

TEST_CASE("A wrong SMTP password fails the message and is never logged") {
  Certificates certificates;
  SmtpReceiver smtp(certificates.server_options());
  auto denied = send_one(tls_email(smtp.port(), certificates.pki.certificate("ca"), "WRONG-pa55"),
                         store_error("denied"));
  check_failed_at_once(denied, smtp);
  CHECK(denied.log.find("WRONG-pa55") == std::string::npos);
}

TEST_CASE("metadata.recipients replaces the default recipients, and a bad one fails the message") {
  SmtpReceiver smtp;
  auto log = std::make_shared<RecordingSink>();
  Dispatcher dispatcher({email_backend("mail", plain_email(smtp.port()))}, test_options(log));
  auto chosen = store_error("to the developers");
  chosen.metadata = {{"recipients", {"dev@example.net", "lead@example.net"}}};
  dispatcher.emit(chosen);
  auto bad = store_error("to nobody");
  bad.metadata = {{"recipients", {"dev@example.net", "not an address"}}};
  dispatcher.emit(bad);
  REQUIRE(dispatcher.flush(20s));

  auto messages = smtp.messages();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0]["rcpt_tos"] == json{"dev@example.net", "lead@example.net"});
  CHECK(messages[0]["headers"]["To"] == "dev@example.net, lead@example.net");
  auto counters = counters_of(dispatcher, "mail");
  CHECK(counters.sent == 1);
  CHECK(counters.failed == 1);
  CHECK_THAT(log->text(),
             Catch::Contains("metadata.recipients holds something that is not an address"));
}

TEST_CASE("An SMTP 4xx reply is retried and a 5xx reply is final") {
  auto [code, sent, failed, delivered] = GENERATE(table<int, int, int, std::size_t>({
      {451, 1, 0, 1},  // "try again later": the second session delivers
      {554, 0, 1, 0},  // "transaction failed": no second session
  }));
  SmtpReceiver smtp({.reject_first = 1, .reject_code = code});
  auto counters = send_one(plain_email(smtp.port()), store_error("rejected once")).counters;
  CHECK(counters.sent == static_cast<std::uint64_t>(sent));
  CHECK(counters.failed == static_cast<std::uint64_t>(failed));
  CHECK(smtp.messages().size() == delivered);
}

TEST_CASE("A resent email keeps its Message-ID so that a receiver can drop the duplicate") {
  // A server may take a message and lose its reply: the retry is the same message.
  SmtpReceiver smtp({.reject_first = 1, .reject_code = 451});
  auto counters = send_one(plain_email(smtp.port()), store_error("rejected once")).counters;
  CHECK(counters.sent == 1);
  auto attempts = smtp.attempts();
  REQUIRE(attempts.size() == 2);
  CHECK(attempts[0]["rejected"] == true);
  CHECK(attempts[1]["headers"]["Message-ID"] == attempts[0]["headers"]["Message-ID"]);
}
