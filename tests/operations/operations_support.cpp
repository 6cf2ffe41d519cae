#include "operations_support.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

namespace processpype::testing::operations {

// ---------------------------------------------------------------------------
// Events over REST

std::vector<json> events_of(HttpClient& api, std::uint64_t since) {
  auto response = api.get(since == 0 ? "/events" : "/events?since=" + std::to_string(since));
  auto events = response.field("events");
  if (response.status != 200 || !events.is_array()) return {};
  return events.get<std::vector<json>>();
}

std::vector<json> events_about(const std::vector<json>& events, const std::string& service) {
  std::vector<json> about;
  for (const auto& event : events)
    if (event.is_object() && event.value("service", "") == service) about.push_back(event);
  return about;
}

std::string error_of(HttpClient& api, const std::string& name) {
  auto response = api.get("/services/" + name);
  auto error = response.field("error");
  return response.status == 200 && error.is_string() ? error.get<std::string>() : "";
}

std::optional<json> wait_for_event(HttpClient& api, const std::function<bool(const json&)>& match,
                                   std::chrono::milliseconds timeout) {
  std::optional<json> found;
  wait_until(
      [&] {
        for (const auto& event : events_of(api))
          if (match(event)) {
            found = event;
            return true;
          }
        return false;
      },
      timeout, 25ms);
  return found;
}

bool is_event(const json& event, const std::string& service, const std::string& state,
              const std::string& cause) {
  return event.is_object() && event.value("service", "") == service &&
         event.value("state", "") == state && (cause.empty() || event.value("cause", "") == cause);
}

std::optional<std::int64_t> iso_time_ms(const std::string& text) {
  // YYYY-MM-DDTHH:MM:SS.mmmZ
  if (text.size() != 24 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != '.' || text[23] != 'Z')
    return std::nullopt;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22})
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
  auto number = [&](std::size_t at, std::size_t length) {
    return std::stoi(text.substr(at, length));
  };
  std::tm parts{};
  parts.tm_year = number(0, 4) - 1900;
  parts.tm_mon = number(5, 2) - 1;
  parts.tm_mday = number(8, 2);
  parts.tm_hour = number(11, 2);
  parts.tm_min = number(14, 2);
  parts.tm_sec = number(17, 2);
  auto seconds = ::timegm(&parts);
  return static_cast<std::int64_t>(seconds) * 1000 + number(20, 3);
}

std::uint64_t last_seq(HttpClient& api) {
  auto events = events_of(api);
  if (events.empty() || !events.back().contains("seq")) return 0;
  return events.back()["seq"].get<std::uint64_t>();
}

// ---------------------------------------------------------------------------
// Server-Sent Events

SseClient::SseClient(int port, std::string path, std::vector<std::string> headers) {
  curl_global_init(CURL_GLOBAL_DEFAULT);  // reference-counted; the harness did it already
  auto url = "http://127.0.0.1:" + std::to_string(port) + path;
  thread_ = std::thread([this, url = std::move(url), headers = std::move(headers)] {
    CURL* curl = curl_easy_init();
    curl_slist* list = curl_slist_append(nullptr, "Accept: text/event-stream");
    for (const auto& header : headers) list = curl_slist_append(list, header.c_str());
    char error_buffer[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &SseClient::on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &SseClient::on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, this);
    // The multi interface, polled every 20 ms, so that the destructor ends
    // the transfer at once, whether data flows or not.
    CURLM* multi = curl_multi_init();
    curl_multi_add_handle(multi, curl);
    int running = 1;
    while (!stop_.load()) {
      curl_multi_perform(multi, &running);
      if (running == 0) break;
      curl_multi_poll(multi, nullptr, 0, 20, nullptr);
    }
    CURLcode code = CURLE_ABORTED_BY_CALLBACK;
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &left))
      if (message->msg == CURLMSG_DONE) code = message->data.result;
    curl_multi_remove_handle(multi, curl);
    curl_multi_cleanup(multi);
    {
      std::lock_guard lock{mutex_};
      result_ = std::string(curl_easy_strerror(code)) +
                (error_buffer[0] != '\0' ? std::string(" (") + error_buffer + ")" : "");
    }
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    ended_.store(true);
  });
}

SseClient::~SseClient() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  curl_global_cleanup();
}

std::size_t SseClient::on_data(char* data, std::size_t size, std::size_t count, void* user) {
  auto* self = static_cast<SseClient*>(user);
  if (self->stop_.load()) return 0;  // ends the transfer
  self->feed(data, size * count);
  return size * count;
}

std::size_t SseClient::on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* self = static_cast<SseClient*>(user);
  std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    auto space = line.find(' ');
    if (space != std::string::npos) self->status_.store(std::atol(line.c_str() + space + 1));
  } else {
    std::string lower = line;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower.rfind("content-type:", 0) == 0) {
      auto value = line.substr(13);
      auto begin = value.find_first_not_of(" \t");
      auto end = value.find_last_not_of(" \t\r\n");
      std::lock_guard lock{self->mutex_};
      self->content_type_ = begin == std::string::npos ? "" : value.substr(begin, end - begin + 1);
    }
  }
  return size * count;
}

void SseClient::feed(const char* data, std::size_t size) {
  std::lock_guard lock{mutex_};
  raw_.append(data, size);
  buffer_.append(data, size);
  // A message ends with an empty line; lines end with \n (or \r\n). Parsed
  // from a cursor and erased once: a busy server sends many events in one
  // write, and erasing each message from the front would be quadratic.
  std::size_t begin = 0;
  while (true) {
    auto end = buffer_.find("\n\n", begin);
    // A \r\n\r\n ending earlier is searched for only up to that \n\n.
    auto until = end == std::string::npos ? std::string::npos : end - begin;
    auto crlf = std::string_view{buffer_}.substr(begin, until).find("\r\n\r\n");
    std::size_t skip = 2;
    if (crlf != std::string_view::npos) {
      end = begin + crlf;
      skip = 4;
    }
    if (end == std::string::npos) break;
    auto block = buffer_.substr(begin, end - begin);
    begin = end + skip;
    SseMessage message;
    bool any_field = false;
    std::istringstream lines(block);
    std::string line;
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || line[0] == ':') continue;  // comments (keep-alive)
      auto colon = line.find(':');
      auto field = line.substr(0, colon);
      std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
      any_field = true;
      if (field == "id") {
        message.id = value;
      } else if (field == "event") {
        message.event = value;
      } else if (field == "data") {
        message.data += message.data.empty() ? value : "\n" + value;
      }
    }
    if (!any_field) continue;
    message.data_json = json::parse(message.data, nullptr, false);
    messages_.push_back(std::move(message));
  }
  buffer_.erase(0, begin);
}

std::vector<SseMessage> SseClient::messages() const {
  std::lock_guard lock{mutex_};
  return messages_;
}

std::vector<SseMessage> SseClient::state_messages() const {
  std::vector<SseMessage> states;
  for (auto& message : messages())
    if (message.event != "gap" && message.event != "node_down") states.push_back(message);
  return states;
}

bool SseClient::wait_for(const std::function<bool(const std::vector<SseMessage>&)>& done,
                         std::chrono::milliseconds timeout) const {
  // Under the lock, without a copy: 30,000 messages copied every 10 ms would
  // slow the reader it waits for.
  return wait_until(
      [&] {
        std::lock_guard lock{mutex_};
        return done(messages_);
      },
      timeout, 10ms);
}

bool SseClient::wait_connected(std::chrono::milliseconds timeout) const {
  return wait_until([&] { return status_.load() == 200 || ended_.load(); }, timeout, 10ms) &&
         status_.load() == 200;
}

std::string SseClient::content_type() const {
  std::lock_guard lock{mutex_};
  return content_type_;
}

std::string SseClient::result() const {
  std::lock_guard lock{mutex_};
  return result_;
}

std::string SseClient::raw() const {
  std::lock_guard lock{mutex_};
  return raw_;
}

// ---------------------------------------------------------------------------
// A client that never reads

StalledClient::StalledClient(int port, const std::string& request, int receive_buffer) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  // Before connect, so that the window the peer sees is small from the start.
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  auto address = loopback_address(port);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    auto error = errno;
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error(std::string("connect: ") + std::strerror(error));
  }
  std::size_t sent = 0;
  while (sent < request.size()) {
    auto n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
    sent += static_cast<std::size_t>(n);
  }
}

StalledClient::~StalledClient() {
  if (fd_ >= 0) ::close(fd_);
}

bool StalledClient::wait_readable(std::chrono::milliseconds timeout) {
  pollfd poll_fd{fd_, POLLIN, 0};
  return ::poll(&poll_fd, 1, static_cast<int>(timeout.count())) > 0;
}

StalledClient::Drained StalledClient::drain(std::chrono::milliseconds timeout,
                                            std::chrono::milliseconds quiet) {
  Drained drained;
  auto deadline = Clock::now() + timeout;
  std::vector<char> buffer(1 << 16);
  while (Clock::now() < deadline) {
    pollfd poll_fd{fd_, POLLIN, 0};
    auto ready = ::poll(&poll_fd, 1, static_cast<int>(quiet.count()));
    if (ready == 0) break;  // quiet: nothing more comes
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    auto n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
      drained.eof = true;
      break;
    }
    if (n > 0) drained.bytes.append(buffer.data(), static_cast<std::size_t>(n));
    if (drained.bytes.size() >= 5 && drained.bytes.ends_with("\r\n0\r\n\r\n")) {
      drained.stream_end = true;
      break;
    }
  }
  return drained;
}

// ---------------------------------------------------------------------------
// Prometheus text exposition

std::vector<Sample> parse_samples(const std::string& text) {
  std::vector<Sample> samples;
  for (const auto& line : lines_of(text)) {
    if (line[0] == '#') continue;
    Sample sample;
    std::size_t at = 0;
    while (at < line.size() && line[at] != '{' && line[at] != ' ') ++at;
    sample.name = line.substr(0, at);
    if (at < line.size() && line[at] == '{') {
      ++at;
      while (at < line.size() && line[at] != '}') {
        auto equals = line.find('=', at);
        if (equals == std::string::npos || equals + 1 >= line.size() || line[equals + 1] != '"')
          break;
        auto key = line.substr(at, equals - at);
        std::string value;
        at = equals + 2;
        while (at < line.size() && line[at] != '"') {
          if (line[at] == '\\' && at + 1 < line.size()) {
            ++at;
            value += line[at] == 'n' ? '\n' : line[at];
          } else {
            value += line[at];
          }
          ++at;
        }
        ++at;  // the closing quote
        sample.labels[key] = value;
        if (at < line.size() && line[at] == ',') ++at;
      }
      ++at;  // '}'
    }
    while (at < line.size() && line[at] == ' ') ++at;
    auto value_text = line.substr(at);
    auto space = value_text.find(' ');  // an optional timestamp follows
    value_text = value_text.substr(0, space);
    if (value_text == "+Inf") {
      sample.value = HUGE_VAL;
    } else {
      try {
        sample.value = std::stod(value_text);
      } catch (const std::exception&) {
        continue;
      }
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

std::vector<Sample> samples_of(const std::vector<Sample>& samples, const std::string& name,
                               const std::map<std::string, std::string>& labels) {
  std::vector<Sample> found;
  for (const auto& sample : samples) {
    if (sample.name != name) continue;
    bool all = true;
    for (const auto& [key, value] : labels) {
      auto label = sample.labels.find(key);
      all = all && label != sample.labels.end() && label->second == value;
    }
    if (all) found.push_back(sample);
  }
  return found;
}

std::optional<double> sample_value(const std::vector<Sample>& samples, const std::string& name,
                                   const std::map<std::string, std::string>& labels) {
  auto found = samples_of(samples, name, labels);
  if (found.size() != 1) return std::nullopt;
  return found.front().value;
}

// ---------------------------------------------------------------------------
// Processes

long rss_kb(pid_t pid) {
  for (const auto& line : lines_of(read_file("/proc/" + std::to_string(pid) + "/status")))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

ProgramResult run_program(const std::string& program, const std::vector<std::string>& args,
                          std::chrono::milliseconds timeout) {
  ChildProcess child(program, args);
  auto status = child.wait(timeout);
  if (status.timed_out()) child.kill();
  return {status, child.stdout_text(), child.stderr_text()};
}

std::string operations_data_dir() {
  return PROCESSPYPE_OPERATIONS_DATA_DIR;
}

}  // namespace processpype::testing::operations
