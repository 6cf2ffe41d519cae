#include "e2e_support.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

extern char** environ;  // NOLINT: POSIX

#ifndef PROCESSPYPE_SERVER_BINARY
#error "PROCESSPYPE_SERVER_BINARY must be defined (path of the processpype binary)"
#endif
#ifndef PROCESSPYPE_EXAMPLES_DIR
#error "PROCESSPYPE_EXAMPLES_DIR must be defined (path of examples/)"
#endif

namespace e2e {

std::string server_binary() {
  return PROCESSPYPE_SERVER_BINARY;
}
std::string examples_dir() {
  return PROCESSPYPE_EXAMPLES_DIR;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    throw std::runtime_error(std::string("bind: ") + std::strerror(errno));
  }
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error(std::string("getsockname: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

double elapsed_ms(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

namespace {

std::string temp_dir() {
  const char* dir = std::getenv("TMPDIR");
  return (dir != nullptr && *dir != '\0') ? dir : "/tmp";
}

/// Creates an empty temporary file and returns its path.
std::string make_temp_file(const std::string& tag, const std::string& suffix = "") {
  std::string pattern = temp_dir() + "/processpype-e2e-" + tag + "-XXXXXX" + suffix;
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  int fd = ::mkstemps(buffer.data(), static_cast<int>(suffix.size()));
  if (fd < 0) throw std::runtime_error(std::string("mkstemps: ") + std::strerror(errno));
  ::close(fd);
  return std::string(buffer.data());
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string trim(const std::string& text) {
  auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  auto end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

}  // namespace

TempFile::TempFile(const std::string& content, const std::string& suffix)
    : path_(make_temp_file("file", suffix)) {
  std::ofstream out(path_, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path_);
}

TempFile::~TempFile() {
  ::unlink(path_.c_str());
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!trim(line).empty()) lines.push_back(line);
  }
  return lines;
}

// ---------------------------------------------------------------------------
// Processes

std::string ExitStatus::describe() const {
  if (timed_out()) return "did not exit in time";
  if (signaled) return "killed by signal " + std::to_string(code - 128);
  return "exit code " + std::to_string(code);
}

ChildProcess::ChildProcess(const std::string& program, const std::vector<std::string>& args,
                           const Environment& env)
    : stdout_path_(make_temp_file("stdout")), stderr_path_(make_temp_file("stderr")) {
  // Everything the child needs is prepared here: between fork and execve the
  // child only makes async-signal-safe calls.
  std::vector<std::string> argv_strings;
  argv_strings.push_back(program);
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);

  auto overridden = [&](const std::string& name) {
    if (name == "ENABLED_SERVICES") return true;
    for (const auto& unset : env.unset)
      if (unset == name) return true;
    for (const auto& [key, value] : env.set)
      if (key == name) return true;
    return false;
  };
  std::vector<std::string> env_strings;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string variable(*entry);
    auto equals = variable.find('=');
    if (equals != std::string::npos && overridden(variable.substr(0, equals))) continue;
    env_strings.push_back(std::move(variable));
  }
  for (const auto& [key, value] : env.set) env_strings.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& variable : env_strings) envp.push_back(variable.data());
  envp.push_back(nullptr);

  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out_fd = ::open(stdout_path_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  int err_fd = ::open(stderr_path_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (null_fd < 0 || out_fd < 0 || err_fd < 0) {
    for (int fd : {null_fd, out_fd, err_fd})
      if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot open the child's stdio files");
  }

  pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    for (int fd : {null_fd, out_fd, err_fd}) ::close(fd);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid_ == 0) {
    // Dies with the test process, whatever happens to it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    // Ignored signals and the signal mask survive execve: give the server
    // the defaults a shell would.
    sigset_t all;
    ::sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGPIPE, SIG_DFL);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  for (int fd : {null_fd, out_fd, err_fd}) ::close(fd);
}

ChildProcess::~ChildProcess() {
  kill();
  ::unlink(stdout_path_.c_str());
  ::unlink(stderr_path_.c_str());
}

bool ChildProcess::reap(int options) {
  if (status_) return true;
  if (pid_ <= 0) return true;
  int raw = 0;
  pid_t result;
  do {
    result = ::waitpid(pid_, &raw, options);
  } while (result < 0 && errno == EINTR);
  if (result == pid_) {
    ExitStatus status;
    if (WIFEXITED(raw)) {
      status.exited = true;
      status.code = WEXITSTATUS(raw);
    } else if (WIFSIGNALED(raw)) {
      status.signaled = true;
      status.code = 128 + WTERMSIG(raw);
    } else {
      return false;  // stopped/continued: still alive
    }
    status_ = status;
    return true;
  }
  if (result < 0) {  // ECHILD: nothing left to wait for
    status_ = ExitStatus{};
    status_->code = 255;
    return true;
  }
  return false;
}

bool ChildProcess::alive() {
  return !reap(WNOHANG);
}

void ChildProcess::signal(int signal) {
  if (alive()) ::kill(pid_, signal);
}

ExitStatus ChildProcess::wait(std::chrono::milliseconds timeout) {
  wait_until([&] { return reap(WNOHANG); }, timeout, 10ms);
  return status_ ? *status_ : ExitStatus{};
}

void ChildProcess::kill() {
  if (!alive()) return;
  ::kill(pid_, SIGKILL);
  reap(0);
}

RunResult run_to_completion(const std::vector<std::string>& args, const Environment& env,
                            std::chrono::milliseconds timeout) {
  ChildProcess child(server_binary(), args, env);
  RunResult result;
  result.status = child.wait(timeout);
  if (result.status.timed_out()) child.kill();
  result.out = child.stdout_text();
  result.err = child.stderr_text();
  return result;
}

// ---------------------------------------------------------------------------
// HTTP

std::string HttpResponse::header(const std::string& name) const {
  auto found = headers.find(lowercase(name));
  return found == headers.end() ? "" : found->second;
}

json HttpResponse::field(const std::string& key) const {
  if (!is_json() || !body_json.is_object() || !body_json.contains(key)) return nullptr;
  return body_json.at(key);
}

std::string HttpResponse::detail() const {
  auto value = field("detail");
  return value.is_string() ? value.get<std::string>() : "";
}

std::string HttpResponse::describe() const {
  if (status == 0) return "transport error: " + transport_error;
  std::string text = "HTTP " + std::to_string(status) + " body: " + body.substr(0, 600);
  if (body.size() > 600) text += "...(" + std::to_string(body.size()) + " bytes)";
  return text;
}

namespace {

std::once_flag curl_once;

size_t on_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    headers->clear();  // a new response (e.g. after 100 Continue)
  } else if (auto colon = line.find(':'); colon != std::string::npos) {
    auto name = lowercase(trim(line.substr(0, colon)));
    auto value = trim(line.substr(colon + 1));
    auto& slot = (*headers)[name];
    slot = slot.empty() ? value : slot + ", " + value;
  }
  return size * count;
}

struct UploadSource {
  const std::string* data;
  size_t offset = 0;
};

size_t on_upload(char* buffer, size_t size, size_t count, void* user) {
  auto* source = static_cast<UploadSource*>(user);
  size_t length = std::min(size * count, source->data->size() - source->offset);
  std::memcpy(buffer, source->data->data() + source->offset, length);
  source->offset += length;
  return length;
}

}  // namespace

HttpClient::HttpClient(int port, std::string prefix, std::chrono::milliseconds timeout)
    : port_(port), prefix_(std::move(prefix)), timeout_(timeout) {
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
  if (curl_ == nullptr) throw std::runtime_error("curl_easy_init failed");
}

HttpClient::~HttpClient() {
  curl_easy_cleanup(static_cast<CURL*>(curl_));
}

std::string HttpClient::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + prefix_ + path;
}

HttpResponse HttpClient::post_chunked(const std::string& path, const std::string& body) {
  return request("POST", path, body, {}, true);
}

HttpResponse HttpClient::request(const std::string& method, const std::string& path,
                                 const std::optional<std::string>& body,
                                 const std::vector<std::string>& headers, bool chunked) {
  auto* curl = static_cast<CURL*>(curl_);
  curl_easy_reset(curl);  // keeps the live connection: keep-alive across requests
  HttpResponse response;
  char error_buffer[CURL_ERROR_SIZE] = {};
  auto target = url(path);
  UploadSource upload{body ? &*body : nullptr};

  curl_easy_setopt(curl, CURLOPT_URL, target.c_str());
  curl_easy_setopt(curl, CURLOPT_PROXY, "");  // loopback only: never a proxy
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);

  curl_slist* header_list = nullptr;
  bool has_content_type = false;
  for (const auto& header : headers) {
    if (lowercase(header).rfind("content-type:", 0) == 0) has_content_type = true;
    header_list = curl_slist_append(header_list, header.c_str());
  }
  // No "Expect: 100-continue" dance: the body is sent at once.
  header_list = curl_slist_append(header_list, "Expect:");

  if (method == "GET" && !body) {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (method == "POST" || method == "PUT" || body) {
    if (!has_content_type && body)
      header_list = curl_slist_append(header_list, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    if (chunked) {
      header_list = curl_slist_append(header_list, "Transfer-Encoding: chunked");
      curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_upload);
      curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
    } else if (body) {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data());
    } else {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(0));
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
    }
    if (method != "POST") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list);

  auto started = Clock::now();
  CURLcode result = curl_easy_perform(curl);
  response.elapsed_ms = elapsed_ms(started);
  curl_slist_free_all(header_list);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);

  if (result != CURLE_OK) {
    response.status = 0;
    response.transport_error =
        method + " " + target + ": " + curl_easy_strerror(result) +
        (error_buffer[0] != '\0' ? std::string(" (") + error_buffer + ")" : std::string());
  } else {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  }
  response.body_json = json::parse(response.body, nullptr, false);
  return response;
}

AsyncRequest::AsyncRequest(int port, std::string prefix, std::string method, std::string path,
                           std::optional<std::string> body)
    : sent_at_(Clock::now()) {
  thread_ = std::thread([this, port, prefix = std::move(prefix), method = std::move(method),
                         path = std::move(path), body = std::move(body)] {
    HttpClient client(port, prefix, 30s);
    response_ = client.request(method, path, body);
    finished_at_ = Clock::now();
    done_.store(true);
  });
}

AsyncRequest::~AsyncRequest() {
  if (thread_.joinable()) thread_.join();
}

const HttpResponse& AsyncRequest::response() {
  if (thread_.joinable()) thread_.join();
  return response_;
}

// ---------------------------------------------------------------------------
// Server

namespace {

std::vector<std::string> server_arguments(const ServerOptions& options, int port) {
  std::vector<std::string> args;
  if (options.pass_port) {
    args = {"--host", "127.0.0.1", "--port", std::to_string(port)};
  }
  args.insert(args.end(), options.args.begin(), options.args.end());
  return args;
}

}  // namespace

namespace {

ServerOptions with_args(std::vector<std::string> args) {
  ServerOptions options;
  options.args = std::move(args);
  return options;
}

}  // namespace

ServerProcess::ServerProcess(std::vector<std::string> args)
    : ServerProcess(with_args(std::move(args))) {}

ServerProcess::ServerProcess(ServerOptions options)
    : port_(options.port != 0 ? options.port : free_port()), prefix_(options.api_prefix) {
  process_ = std::make_unique<ChildProcess>(server_binary(), server_arguments(options, port_),
                                            options.env);
  HttpClient probe(port_, prefix_, 1s);
  bool exited = false;
  bool ready = wait_until(
      [&] {
        if (!process_->alive()) {
          exited = true;
          return true;
        }
        return probe.get("/").status == 200;
      },
      options.ready_timeout, 25ms);
  if (exited || !ready) {
    std::string why = exited ? "exited (" + process_->wait(0ms).describe() + ")"
                             : "did not answer GET " + prefix_ + "/ with 200 in time";
    auto err = process_->stderr_text();
    process_->kill();
    throw std::runtime_error("processpype on port " + std::to_string(port_) + " " + why +
                             "; stderr:\n" + err.substr(0, 4000));
  }
}

ExitStatus ServerProcess::stop(int signal, std::chrono::milliseconds timeout) {
  process_->signal(signal);
  auto status = process_->wait(timeout);
  if (status.timed_out()) process_->kill();
  return status;
}

// ---------------------------------------------------------------------------
// REST helpers

json status_of(HttpClient& client, const std::string& name) {
  auto response = client.get("/services/" + name);
  if (response.status != 200 || !response.is_json()) return nullptr;
  return response.body_json;
}

std::string state_of(HttpClient& client, const std::string& name) {
  auto status = status_of(client, name);
  if (!status.is_object() || !status.contains("state") || !status["state"].is_string()) return "";
  return status["state"].get<std::string>();
}

bool wait_for_state(HttpClient& client, const std::string& name, const std::string& state,
                    std::chrono::milliseconds timeout) {
  return wait_until([&] { return state_of(client, name) == state; }, timeout);
}

HttpResponse register_service(HttpClient& client, const std::string& service_name,
                              const std::optional<std::string>& instance_name) {
  json body = {{"service_name", service_name}};
  if (instance_name) body["instance_name"] = *instance_name;
  return client.post("/services/register", body);
}

std::vector<std::string> service_names(HttpClient& client) {
  std::vector<std::string> names;
  auto response = client.get("/services");
  auto services = response.field("services");
  if (!services.is_array()) return names;
  for (const auto& entry : services)
    if (entry.is_object() && entry.contains("name") && entry["name"].is_string())
      names.push_back(entry["name"].get<std::string>());
  return names;
}

}  // namespace e2e
