#include "processpype/ctl/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

#include <curl/curl.h>
#include <fmt/format.h>

#include "processpype/ctl/errors.hpp"

namespace processpype::ctl {

namespace {

/// curl_global_init once per process. Plain HTTP skips the TLS library's
/// initialisation (it loads OpenSSL's configuration), which is a sizeable
/// part of a short command's run time.
void initialize_curl(bool https) {
  static std::once_flag once;
  std::call_once(once,
                 [https] { curl_global_init(https ? CURL_GLOBAL_DEFAULT : CURL_GLOBAL_NOTHING); });
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

struct HeaderList {
  curl_slist* list = nullptr;
  HeaderList() = default;
  HeaderList(const HeaderList&) = delete;
  HeaderList& operator=(const HeaderList&) = delete;
  ~HeaderList() { curl_slist_free_all(list); }
  void build(const std::vector<std::string>& lines) {
    for (const auto& line : lines) list = curl_slist_append(list, line.c_str());
  }
};

std::size_t append_to_string(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

/// What a stream's callbacks share.
struct StreamState {
  CURL* curl;
  const std::function<void(long)>* on_open;
  const std::function<bool(std::string_view)>* on_data;
  Response* response;
  bool opened = false;
  bool stopped = false;  ///< on_data asked to end the stream
};

/// CURLOPT_HEADERFUNCTION of a stream: the blank line that ends the headers
/// of the final (not 1xx) response opens the stream.
std::size_t on_stream_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* state = static_cast<StreamState*>(user);
  std::string_view line(data, size * count);
  if (line == "\r\n" || line == "\n") {
    long status = 0;
    curl_easy_getinfo(state->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && !state->opened) {
      state->opened = true;
      state->response->status = status;
      (*state->on_open)(status);
    }
  }
  return size * count;
}

std::size_t on_stream_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* state = static_cast<StreamState*>(user);
  std::string_view bytes(data, size * count);
  if (!state->response->success()) {
    state->response->body.append(bytes);
    return bytes.size();
  }
  if (!(*state->on_data)(bytes)) {
    state->stopped = true;
    return 0;  // ends the transfer (CURLE_WRITE_ERROR)
  }
  return bytes.size();
}

std::string describe_failure(CURLcode code, const char* buffer) {
  return *buffer != '\0' ? std::string(buffer) : std::string(curl_easy_strerror(code));
}

}  // namespace

// -- Response ---------------------------------------------------------------

nlohmann::json Response::json() const {
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_discarded())
    throw Refusal(status,
                  fmt::format("the server's reply (HTTP {}) is not JSON: {:.200}", status, body));
  return parsed;
}

std::string Response::detail() const {
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_object()) {
    auto found = parsed.find("detail");
    if (found != parsed.end() && found->is_string()) return found->get<std::string>();
  }
  auto end = body.find_last_not_of(" \t\r\n");
  if (end != std::string::npos) return body.substr(0, std::min<std::size_t>(end + 1, 500));
  return fmt::format("HTTP {}", status);
}

// -- HttpClient ---------------------------------------------------------------

HttpClient::HttpClient(Connection connection) : connection_(std::move(connection)) {
  bool https = starts_with_ignoring_case(connection_.url, "https://");
  if (!https && !starts_with_ignoring_case(connection_.url, "http://"))
    throw UsageError(fmt::format("--url {}: must start with http:// or https://", connection_.url));
  // Paths are appended to the URL: after a query or a fragment they would
  // not be paths any more (`/api?x=1/services/echo` asks for `/api`).
  if (connection_.url.find_first_of("?#") != std::string::npos)
    throw UsageError(
        fmt::format("--url {}: must not hold a query (?) or a fragment (#)", connection_.url));
  while (!connection_.url.empty() && connection_.url.back() == '/') connection_.url.pop_back();
  initialize_curl(https);
  curl_ = curl_easy_init();
  if (curl_ == nullptr) throw Unreachable("cannot initialise libcurl");
}

HttpClient::~HttpClient() {
  curl_easy_cleanup(static_cast<CURL*>(curl_));
}

std::string HttpClient::url_of(const Request& request) const {
  const auto& node = request.node ? *request.node : connection_.node;
  if (node.empty()) return connection_.url + request.path;
  return connection_.url + "/nodes/" + percent_encode(node) + request.path;
}

void HttpClient::prepare(const Request& request, std::vector<std::string>& header_lines) {
  auto* curl = static_cast<CURL*>(curl_);
  // Keeps the connection, forgets the previous request's options.
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "processpype-ctl/" PROCESSPYPE_CTL_VERSION);
  auto timeout = request.timeout.value_or(connection_.timeout);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<std::int64_t>(timeout.count(), 10000)));
  if (!connection_.ca_file.empty())
    curl_easy_setopt(curl, CURLOPT_CAINFO, connection_.ca_file.c_str());
  if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    const auto& body = request.body ? *request.body : std::string();
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl, CURLOPT_COPYPOSTFIELDS, body.c_str());
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  bool has_accept =
      std::any_of(request.headers.begin(), request.headers.end(),
                  [](const auto& line) { return starts_with_ignoring_case(line, "accept:"); });
  if (!has_accept) header_lines.emplace_back("Accept: application/json");
  if (request.body) header_lines.emplace_back("Content-Type: application/json");
  header_lines.emplace_back("Expect:");  // no 100-continue round trip for large bodies
  if (!connection_.token.empty())
    header_lines.push_back("Authorization: Bearer " + connection_.token);
  header_lines.insert(header_lines.end(), request.headers.begin(), request.headers.end());
  curl_easy_setopt(curl, CURLOPT_URL, url_of(request).c_str());
}

Response HttpClient::send(const Request& request) {
  auto* curl = static_cast<CURL*>(curl_);
  std::vector<std::string> header_lines;
  prepare(request, header_lines);
  HeaderList headers;
  headers.build(header_lines);
  Response response;
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.list);
  auto timeout = request.timeout.value_or(connection_.timeout);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_to_string);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  auto code = curl_easy_perform(curl);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  if (code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL)
    throw UsageError(fmt::format("bad URL {}: {}", url_of(request), describe_failure(code, error)));
  if (code == CURLE_OPERATION_TIMEDOUT)
    throw Unreachable(fmt::format(
        "no reply from {} within {} s ({}); a command may still finish on the server: see "
        "--timeout",
        url_of(request), std::chrono::duration<double>(timeout).count(),
        describe_failure(code, error)));
  if (code != CURLE_OK)
    throw Unreachable(
        fmt::format("cannot reach {}: {}", url_of(request), describe_failure(code, error)));
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

Response HttpClient::send_expecting_success(const Request& request) {
  auto response = send(request);
  if (!response.success()) throw Refusal(response.status, response.detail());
  return response;
}

StreamEnd HttpClient::stream(const Request& request, std::chrono::seconds stall_timeout,
                             const std::function<void(long)>& on_open,
                             const std::function<bool(std::string_view)>& on_data) {
  auto* curl = static_cast<CURL*>(curl_);
  std::vector<std::string> header_lines;
  prepare(request, header_lines);
  HeaderList headers;
  headers.build(header_lines);
  StreamEnd end;
  StreamState state{curl, &on_open, &on_data, &end.response};
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.list);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(stall_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_stream_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &state);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_stream_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  auto code = curl_easy_perform(curl);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  if (code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL)
    throw UsageError(fmt::format("bad URL {}: {}", url_of(request), describe_failure(code, error)));
  if (code != CURLE_OK && !state.stopped) end.transport_error = describe_failure(code, error);
  if (end.response.status == 0)
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &end.response.status);
  return end;
}

std::string percent_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string encoded;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '_' || c == '.' || c == '~' || c == '-') {
      encoded.push_back(static_cast<char>(c));
    } else {
      encoded.push_back('%');
      encoded.push_back(hex[c >> 4]);
      encoded.push_back(hex[c & 0x0F]);
    }
  }
  return encoded;
}

}  // namespace processpype::ctl
