// `lock` (docs/rest-api.md, "Example services"): holds an exclusive flock on
// the file `path` while it runs, and writes who holds it into the file. Its
// start fails with "lock held by another copy" when another process holds
// the lock, so a test that runs a cluster instance of it on several nodes of
// one machine sees at once if two copies ever overlap (docs/cluster.md).
// GET /holder answers what the holder wrote: {node, pid, since} and, for a
// cluster instance, its fencing token; 404 when nobody holds the lock.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "processpype/runtime/service.hpp"
#include "processpype/runtime/service_registry.hpp"

namespace processpype::examples {
namespace {

struct LockConfiguration : ServiceConfiguration {
  Required<std::string> path;

  void fields(Fields& fields) override {
    fields("path", path, "The file to lock (created if missing)");
  }
};

/// A file descriptor that closes itself.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int descriptor) : descriptor_(descriptor) {}
  FileDescriptor(FileDescriptor&& other) noexcept : descriptor_(other.release()) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  ~FileDescriptor() { reset(); }

  int get() const { return descriptor_; }
  explicit operator bool() const { return descriptor_ >= 0; }
  int release() { return std::exchange(descriptor_, -1); }
  void reset(int descriptor = -1) {
    if (descriptor_ >= 0) ::close(descriptor_);
    descriptor_ = descriptor;
  }

 private:
  int descriptor_ = -1;
};

FileDescriptor open_lock_file(const std::string& path) {
  FileDescriptor file(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!file)
    throw std::runtime_error(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  return file;
}

std::string now_utc() {
  auto now = std::chrono::system_clock::now();
  auto milliseconds =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z",
                     fmt::gmtime(std::chrono::system_clock::to_time_t(now)), milliseconds);
}

/// Takes the lock at start and releases it at stop. flock locks belong to
/// an open file description: they end when the process dies (kill -9 too),
/// and a second open of the file in the same process conflicts as another
/// process's would.
class LockManager : public ConfiguredManager<LockConfiguration> {
 public:
  using ConfiguredManager::ConfiguredManager;

  void configure(const LockConfiguration& config) override { path_ = config.path; }

  void start() override {
    auto file = open_lock_file(path_);
    if (::flock(file.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) throw std::runtime_error("lock held by another copy");
      throw std::runtime_error(fmt::format("cannot lock {}: {}", path_, std::strerror(errno)));
    }
    write_holder(file.get());
    std::lock_guard lock(mutex_);
    held_ = std::move(file);
    logger().info("Holding the lock on {}", path_);
  }

  void stop() override {
    std::lock_guard lock(mutex_);
    if (!held_) return;
    // Clear the holder before unlocking, so that nobody reads a stale one.
    if (::ftruncate(held_.get(), 0) != 0)
      logger().warn("Cannot clear {}: {}", path_, std::strerror(errno));
    held_.reset();
    logger().info("Released the lock on {}", path_);
  }

 private:
  void write_holder(int file) const {
    nlohmann::json holder{{"node", node_id()}, {"pid", ::getpid()}, {"since", now_utc()}};
    if (auto token = fencing_token()) holder["fencing_token"] = *token;
    auto text = holder.dump() + "\n";
    if (::ftruncate(file, 0) != 0 ||
        ::pwrite(file, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
      throw std::runtime_error(
          fmt::format("cannot write the holder into {}: {}", path_, std::strerror(errno)));
  }

  std::string path_;
  std::mutex mutex_;  // a start abandoned after its timeout may still run when stop comes
  FileDescriptor held_;
};

class LockService : public ConfiguredService<LockConfiguration, LockManager> {
 public:
  using ConfiguredService::ConfiguredService;

  void add_routes(ServiceRoutes& routes) override {
    routes.get(
        "/holder", [this](const RouteRequest&) { return holder(); },
        "Who holds the lock: {node, pid, since}; 404 when nobody does");
  }

 private:
  /// Asks the kernel, not the file: a holder killed with -9 leaves its text
  /// behind, but its lock ended with it.
  RouteResponse holder() const {
    if (!config().path.has_value())
      throw Error(ErrorCode::conflict, "Service " + name() + " must be configured first");
    const std::string& path = config().path;
    if (!held_by_anyone(path)) throw nobody_holds(path);
    std::ifstream file(path);
    auto holder = nlohmann::json::parse(std::istreambuf_iterator<char>(file),
                                        std::istreambuf_iterator<char>(), nullptr, false);
    // Locked but not written yet: the holder is between its flock and its write.
    if (!holder.is_object()) throw nobody_holds(path);
    return RouteResponse::ok(std::move(holder));
  }

  static bool held_by_anyone(const std::string& path) {
    FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!file) return false;
    if (::flock(file.get(), LOCK_SH | LOCK_NB) == 0) return false;  // closing releases it
    return errno == EWOULDBLOCK;
  }

  Error nobody_holds(const std::string& path) const {
    return Error(ErrorCode::not_found, "Nobody holds the lock on " + path);
  }
};

PROCESSPYPE_REGISTER_SERVICE(LockService);  // registry key "lock"

}  // namespace
}  // namespace processpype::examples
