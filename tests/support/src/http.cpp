#include "processpype/testing/http.hpp"

#include "curl_helpers.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>

#include <curl/curl.h>

namespace processpype::testing {

namespace {

using internal::lowercase;

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

HttpClient::HttpClient(int port, std::string prefix, std::chrono::milliseconds timeout)
    : port_(port), prefix_(std::move(prefix)), timeout_(timeout) {}

std::string HttpClient::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + prefix_ + path;
}

HttpResponse HttpClient::post_chunked(const std::string& path, const std::string& body) {
  return request("POST", path, body, {}, true);
}

HttpResponse HttpClient::request(const std::string& method, const std::string& path,
                                 const std::optional<std::string>& body,
                                 const std::vector<std::string>& headers, bool chunked) {
  auto* curl = static_cast<CURL*>(curl_.get());
  curl_easy_reset(curl);  // keeps the live connection: keep-alive across requests
  HttpResponse response;
  char error_buffer[CURL_ERROR_SIZE] = {};
  auto target = url(path);
  UploadSource upload{body ? &*body : nullptr};

  internal::set_request_options(curl, target, static_cast<long>(timeout_.count()), 5000L,
                                error_buffer, response);

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
  connections_ +=
      internal::perform_request(curl, header_list, method, target, error_buffer, response);
  return response;
}

HttpResponse expect_ok(HttpResponse response, std::string_view what) {
  if (response.status != 200)
    throw std::runtime_error(std::string(what) + ": " + response.describe());
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

}  // namespace processpype::testing
