#include "transport.hpp"

#include <new>

#include <fmt/format.h>

namespace processpype::communications {

namespace {

/// Transport errors that another attempt would meet again: the settings or
/// the server's certificate must change first.
bool is_final_transport_error(CURLcode result) {
  switch (result) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_LOGIN_DENIED:
    case CURLE_USE_SSL_FAILED:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      return true;
    default:
      return false;
  }
}

std::string describe_error(CURLcode result, const Transfer& transfer, const std::string& target) {
  auto message = transfer.error();
  if (message.empty()) message = curl_easy_strerror(result);
  return fmt::format("{}: {}", target, message);
}

/// The outcome of a transfer that libcurl could not complete.
Attempt transport_failure(CURLcode result, const Transfer& transfer, const std::string& target) {
  if (result == CURLE_ABORTED_BY_CALLBACK && transfer.interrupted()) return Attempt::interrupted();
  auto detail = describe_error(result, transfer, target);
  return is_final_transport_error(result) ? Attempt::final(std::move(detail))
                                          : Attempt::transient(std::move(detail));
}

/// A JSON value's strings and keys, plus a few bytes for every other value.
std::size_t json_size(const nlohmann::json& value) {
  constexpr std::size_t per_value = 16;
  switch (value.type()) {
    case nlohmann::json::value_t::string:
      return per_value + value.get_ref<const std::string&>().size();
    case nlohmann::json::value_t::object: {
      std::size_t size = per_value;
      for (const auto& [key, item] : value.items()) size += key.size() + json_size(item);
      return size;
    }
    case nlohmann::json::value_t::array: {
      std::size_t size = per_value;
      for (const auto& item : value) size += json_size(item);
      return size;
    }
    default:
      return per_value;
  }
}

}  // namespace

Attempt classify_http(CURLcode result, long status, const Transfer& transfer,
                      const std::string& target) {
  if (result != CURLE_OK) return transport_failure(result, transfer, target);
  if (status >= 200 && status < 300) return Attempt::delivered();
  auto detail = fmt::format("{} answered HTTP {}", target, status);
  if (status == 429 || status >= 500) return Attempt::transient(std::move(detail));
  return Attempt::final(std::move(detail));
}

Attempt classify_smtp(CURLcode result, long reply, const Transfer& transfer,
                      const std::string& target) {
  if (result == CURLE_OK) return Attempt::delivered();
  if (reply >= 400 && reply < 600) {
    auto detail =
        fmt::format("{} (SMTP reply {})", describe_error(result, transfer, target), reply);
    return reply < 500 ? Attempt::transient(std::move(detail)) : Attempt::final(std::move(detail));
  }
  return transport_failure(result, transfer, target);
}

std::size_t message_size(const Message& message) {
  return message.message.size() + message.label.size() + message.source.size() +
         message.severity.size() + message.subject.size() + json_size(message.metadata);
}

CurlList make_curl_list(const std::vector<std::string>& items) {
  curl_slist* head = nullptr;
  for (const auto& item : items) {
    auto* longer = curl_slist_append(head, item.c_str());
    if (longer == nullptr) {
      curl_slist_free_all(head);
      throw std::bad_alloc();
    }
    head = longer;
  }
  return CurlList(head);
}

std::string loggable_target(const std::string& url) {
  initialize_curl();
  CURLU* handle = curl_url();
  std::string target = "(an unparsable URL)";
  char* scheme = nullptr;
  char* host = nullptr;
  char* port = nullptr;
  if (handle != nullptr && curl_url_set(handle, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(handle, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      curl_url_get(handle, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(handle, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
    target = fmt::format("{}://{}:{}", scheme, host, port);
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(handle);
  return target;
}

}  // namespace processpype::communications
