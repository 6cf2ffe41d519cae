// `store` (docs/rest-api.md, "Example services"): an in-memory key/value store of at most
// `capacity` items (required: no default). PUT/GET/DELETE /items/{key}, GET /items lists the keys
// in insertion order (overwriting keeps a key's place). The routes work in any state; storing needs
// a configuration. Items survive a reconfigure. `password` is a secret field (docs/secrets.md):
// when set, PUT and DELETE need `X-Store-Password: <password>` (403 otherwise).
#include <cstdint>
#include <iterator>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "processpype/runtime/service.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace processpype::examples {
namespace {

// [snippet:store-configuration]
struct StoreConfiguration : ServiceConfiguration {
  Required<std::int64_t> capacity;
  std::string password;

  void fields(Fields& fields) override {
    fields("capacity", capacity, "How many items it holds at most").greater_than(0);
    fields("password", password, "When set, writes need X-Store-Password: <password>").secret();
  }
};
// [snippet-end:store-configuration]

/// Compares in a time that does not depend on where the texts differ.
bool same_secret(std::string_view given, std::string_view expected) {
  unsigned char difference = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i)
    difference |= static_cast<unsigned char>(expected[i] ^ (i < given.size() ? given[i] : 0));
  return difference == 0;
}

class StoreService : public ConfiguredService<StoreConfiguration> {
 public:
  using ConfiguredService::ConfiguredService;

  void add_routes(ServiceRoutes& routes) override {
    routes.get(
        "/items", [this](const RouteRequest&) { return keys(); }, "Keys in insertion order");
    routes.put(
        "/items/{key}",
        [this](const RouteRequest& r) {
          check_password(r);
          return put(r.parameter("key"), r.body);
        },
        "Store any JSON under a key");
    routes.get(
        "/items/{key}", [this](const RouteRequest& r) { return get(r.parameter("key")); },
        "The value of a key");
    routes.del(
        "/items/{key}",
        [this](const RouteRequest& r) {
          check_password(r);
          return remove(r.parameter("key"));
        },
        "Remove a key");
  }

 private:
  struct Item {
    nlohmann::json value;
    std::list<std::string>::iterator position;  // in order_
  };

  void check_password(const RouteRequest& request) const {
    const auto& password = config().password;
    if (password.empty()) return;
    auto given = request.header("X-Store-Password");
    if (!given || !same_secret(*given, password))
      throw Error(ErrorCode::forbidden,
                  "Store " + name() + " needs the right X-Store-Password header to write");
  }

  RouteResponse keys() const {
    auto keys = nlohmann::json::array();
    for (const auto& key : order_) keys.push_back(key);
    return RouteResponse::ok({{"keys", std::move(keys)}});
  }

  RouteResponse put(const std::string& key, const nlohmann::json& value) {
    auto found = items_.find(key);
    if (found == items_.end()) {
      if (!config().capacity.has_value())
        throw Error(ErrorCode::conflict,
                    "Service " + name() + " must be configured before storing items");
      auto capacity = static_cast<std::uint64_t>(*config().capacity);
      if (items_.size() >= capacity)
        throw Error(ErrorCode::conflict, "Store " + name() + " is full (capacity " +
                                             std::to_string(capacity) + "): cannot add key '" +
                                             key + "'");
      order_.push_back(key);
      found = items_.emplace(key, Item{nullptr, std::prev(order_.end())}).first;
    }
    found->second.value = value;
    return RouteResponse::ok({{"key", key}, {"value", value}});
  }

  RouteResponse get(const std::string& key) const {
    auto found = items_.find(key);
    if (found == items_.end()) throw not_found(key);
    return RouteResponse::ok({{"key", key}, {"value", found->second.value}});
  }

  RouteResponse remove(const std::string& key) {
    auto found = items_.find(key);
    if (found == items_.end()) throw not_found(key);
    order_.erase(found->second.position);
    items_.erase(found);
    return RouteResponse::ok({{"key", key}, {"deleted", true}});
  }

  Error not_found(const std::string& key) const {
    return Error(ErrorCode::not_found, "Item '" + key + "' not found in store " + name());
  }

  // Touched only by routes, in the service's actor: no locks.
  std::unordered_map<std::string, Item> items_;
  std::list<std::string> order_;
};

PROCESSPYPE_REGISTER_SERVICE(StoreService);  // registry key "store"

}  // namespace
}  // namespace processpype::examples
