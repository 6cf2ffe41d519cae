#include "receivers.hpp"

#include <cstdlib>
#include <stdexcept>

namespace processpype::testing {

namespace {

/// The receivers listen on 127.0.0.1: no proxy from the environment may
/// come in between (libcurl honours http_proxy). Set before main, while no
/// thread can read the environment.
[[maybe_unused]] const bool loopback_without_proxy = [] {
  ::setenv("no_proxy", "127.0.0.1,localhost", 1);
  ::setenv("NO_PROXY", "127.0.0.1,localhost", 1);
  return true;
}();

std::string script(const std::string& name) {
  return std::string(PROCESSPYPE_COMMUNICATIONS_TEST_DIR) + "/" + name;
}

std::vector<nlohmann::json> json_lines(const std::string& path) {
  std::vector<nlohmann::json> objects;
  for (const auto& line : lines_of(read_file(path))) {
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    // The line being written at this very moment is left for the next read.
    if (!parsed.is_discarded()) objects.push_back(std::move(parsed));
  }
  return objects;
}

void add_option(std::vector<std::string>& args, const std::string& name, const std::string& value) {
  if (value.empty()) return;
  args.push_back(name);
  args.push_back(value);
}

std::vector<std::string> http_arguments(const HttpReceiverOptions& options) {
  std::vector<std::string> args;
  add_option(args, "--status", std::to_string(options.status));
  add_option(args, "--fail-first", std::to_string(options.fail_first));
  add_option(args, "--fail-status", std::to_string(options.fail_status));
  if (options.retry_after) add_option(args, "--retry-after", std::to_string(*options.retry_after));
  if (options.hang) args.emplace_back("--hang");
  return args;
}

std::vector<std::string> smtp_arguments(const SmtpReceiverOptions& options) {
  std::vector<std::string> args;
  add_option(args, "--tls-cert", options.tls_certificate);
  add_option(args, "--tls-key", options.tls_key);
  if (options.require_starttls) args.emplace_back("--require-starttls");
  add_option(args, "--auth-user", options.user);
  add_option(args, "--auth-password", options.password);
  add_option(args, "--reject-first", std::to_string(options.reject_first));
  add_option(args, "--reject-code", std::to_string(options.reject_code));
  return args;
}

// Found once per module: each look runs a Python.
const std::string& python_with_http_server() {
  static const std::string python = python_with("http.server");
  return python;
}
const std::string& python_with_aiosmtpd() {
  static const std::string python = python_with("aiosmtpd");
  return python;
}

}  // namespace

std::string python_with(const std::string& module) {
  for (const char* candidate : {"/usr/bin/python3", "python3"}) {
    auto python = find_program(candidate);
    if (!python) continue;
    ChildProcess probe(*python, {"-c", "import " + module});
    auto status = probe.wait(30s);
    if (status.exited && status.code == 0) return *python;
  }
  throw std::runtime_error("no python3 can import " + module +
                           " (Debian: apt-get install python3-aiosmtpd)");
}

// -- ScriptReceiver -----------------------------------------------------------

ScriptReceiver::ScriptReceiver(const std::string& python, const std::string& script_name,
                               const std::vector<std::string>& arguments)
    : directory_("processpype-receiver"), record_(directory_.write("record.jsonl", "")) {
  std::vector<std::string> args = {script(script_name), "--record", record_};
  args.insert(args.end(), arguments.begin(), arguments.end());
  process_ = std::make_unique<ChildProcess>(python, args);
  const std::string marker = "listening on ";
  bool ready = wait_until(
      [&] {
        return process_->stdout_text().find(marker) != std::string::npos || !process_->alive();
      },
      15s);
  auto output = process_->stdout_text();
  auto at = output.find(marker);
  if (!ready || at == std::string::npos)
    throw std::runtime_error(script_name + " did not start: " + process_->stderr_text());
  port_ = std::stoi(output.substr(at + marker.size()));
}

std::vector<nlohmann::json> ScriptReceiver::records() const {
  return json_lines(record_);
}

bool ScriptReceiver::wait_for_records(std::size_t count, std::chrono::milliseconds timeout) const {
  return wait_until([&] { return json_lines(record_).size() >= count; }, timeout);
}

// -- HttpReceiver -------------------------------------------------------------

HttpReceiver::HttpReceiver(HttpReceiverOptions options)
    : ScriptReceiver(python_with_http_server(), "http_receiver.py", http_arguments(options)) {}

std::string HttpReceiver::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port()) + path;
}

std::vector<RecordedRequest> HttpReceiver::requests() const {
  std::vector<RecordedRequest> requests;
  for (const auto& line : records()) {
    RecordedRequest request;
    request.method = line.at("method");
    request.path = line.at("path");
    request.headers = line.at("headers").get<std::map<std::string, std::string>>();
    request.body = line.at("body");
    request.body_json = nlohmann::json::parse(request.body, nullptr, false);
    request.time = line.at("time");
    requests.push_back(std::move(request));
  }
  return requests;
}

std::vector<nlohmann::json> HttpReceiver::bodies() const {
  std::vector<nlohmann::json> bodies;
  for (const auto& request : requests()) bodies.push_back(request.body_json);
  return bodies;
}

bool HttpReceiver::wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const {
  return wait_for_records(count, timeout);
}

// -- SmtpReceiver -------------------------------------------------------------

SmtpReceiver::SmtpReceiver(SmtpReceiverOptions options)
    : ScriptReceiver(python_with_aiosmtpd(), "smtp_receiver.py", smtp_arguments(options)) {}

std::vector<nlohmann::json> SmtpReceiver::messages() const {
  std::vector<nlohmann::json> accepted;
  for (auto& message : records())
    if (!message.value("rejected", false)) accepted.push_back(std::move(message));
  return accepted;
}

bool SmtpReceiver::wait_for_messages(std::size_t count, std::chrono::milliseconds timeout) const {
  return wait_until([&] { return messages().size() >= count; }, timeout);
}

// -- RecordingSink ------------------------------------------------------------

std::string RecordingSink::text() {
  std::lock_guard lock{mutex_};
  return text_;
}

void RecordingSink::sink_it_(const spdlog::details::log_msg& message) {
  spdlog::memory_buf_t formatted;
  formatter_->format(message, formatted);
  text_.append(formatted.data(), formatted.size());
}

std::shared_ptr<spdlog::logger> recording_logger(const std::shared_ptr<RecordingSink>& sink) {
  auto logger = std::make_shared<spdlog::logger>("processpype.communications", sink);
  logger->set_level(spdlog::level::trace);
  return logger;
}

}  // namespace processpype::testing
