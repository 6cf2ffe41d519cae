#pragma once

// Service configurations from JSON (fuzz_config and tests/regression): the
// bytes go through parse_json, then into the configuration of every
// registered service class (the example services), and each loaded
// configuration round-trips through to_json → load.
//
// Only processpype::Error may be thrown for bad input; any other exception
// escapes to the caller (the fuzzer aborts on it, a test reports it).

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "processpype/runtime/configuration.hpp"
#include "processpype/runtime/errors.hpp"
#include "processpype/runtime/json_input.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace processpype::fuzz {

/// One throwaway instance per registered class, to make configurations.
class ConfigurationHarness {
 public:
  ConfigurationHarness() {
    for (const auto& service_class : ServiceClassRegistry::global().classes())
      services_.push_back({service_class->key, service_class->create("fuzz")});
  }

  std::size_t classes() const noexcept { return services_.size(); }

  /// What is wrong with how `text` is handled, if anything. Counts the
  /// configurations that accepted it in `accepted` (when given).
  std::optional<std::string> check(std::string_view text, int* accepted = nullptr) const {
    nlohmann::json value;
    try {
      value = parse_json(text);
    } catch (const Error& error) {
      if (error.code() != ErrorCode::bad_request)
        return "parse_json threw " + std::string{to_string(error.code())} + ", not bad_request";
      return std::nullopt;
    }
    if (!json_depth_within(value)) return "parse_json returned JSON deeper than documented";
    for (const auto& [key, service] : services_) {
      auto configuration = service->create_configuration();
      try {
        configuration->load(value);
      } catch (const Error&) {
        continue;  // refused: documented
      }
      if (accepted != nullptr) ++*accepted;
      auto saved = configuration->to_json();
      auto again = service->create_configuration();
      try {
        again->load(saved);
      } catch (const Error& error) {
        return "a loaded configuration of " + key +
               " does not load again from its to_json: " + error.detail();
      }
      if (again->to_json() != saved)
        return "to_json → load → to_json changes the configuration of " + key;
      // The schema (default from the current values) is written in replies.
      auto schema = configuration->schema();
      if (!schema.is_object() || !schema.contains("properties"))
        return "schema() is not an object with properties";
      (void)schema.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      (void)saved.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    return std::nullopt;
  }

 private:
  std::vector<std::pair<std::string, std::unique_ptr<Service>>> services_;
};

}  // namespace processpype::fuzz
