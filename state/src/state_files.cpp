#include "state_files.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace processpype::state {

namespace {

constexpr mode_t folder_mode = 0700;
constexpr mode_t file_mode = 0600;
constexpr mode_t group_and_others = 0077;

std::string system_error() {
  return std::strerror(errno);
}

std::filesystem::path folder_of(const std::filesystem::path& database) {
  auto folder = database.parent_path();
  return folder.empty() ? std::filesystem::path{"."} : folder;
}

/// Closes a descriptor on every path out of a scope.
class Descriptor {
 public:
  explicit Descriptor(int descriptor) noexcept : descriptor_(descriptor) {}
  ~Descriptor() {
    if (descriptor_ >= 0) ::close(descriptor_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  int get() const noexcept { return descriptor_; }
  int release() noexcept { return std::exchange(descriptor_, -1); }

 private:
  int descriptor_;
};

/// Narrows the mode of an existing file to its owner's bits, logging it.
void narrow_mode(const std::filesystem::path& file, spdlog::logger& logger) {
  struct stat status {};
  if (::stat(file.c_str(), &status) != 0 || (status.st_mode & group_and_others) == 0) return;
  auto narrowed = status.st_mode & 0700;
  if (::chmod(file.c_str(), narrowed) != 0) {
    logger.warn("State file {} has mode {:04o}, readable by others, and it cannot be narrowed: {}",
                file.string(), status.st_mode & 07777, system_error());
    return;
  }
  logger.warn("State file {} had mode {:04o}; narrowed to {:04o} (only its owner may read it)",
              file.string(), status.st_mode & 07777, narrowed);
}

}  // namespace

void prepare_folder(const std::filesystem::path& database) {
  auto folder = folder_of(database);
  // The missing folders, innermost last, created one by one with mode 0700
  // (std::filesystem::create_directories would apply the umask to 0777).
  std::vector<std::filesystem::path> missing;
  for (auto step = folder; !step.empty() && ::access(step.c_str(), F_OK) != 0;
       step = step.parent_path()) {
    missing.push_back(step);
    if (step == step.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it)
    if (::mkdir(it->c_str(), folder_mode) != 0 && errno != EEXIST)
      throw FileProblem(
          fmt::format("cannot create the folder {}: {}", it->string(), system_error()));
  struct stat status {};
  if (::stat(folder.c_str(), &status) != 0 || !S_ISDIR(status.st_mode))
    throw FileProblem(fmt::format("{} is not a folder", folder.string()));
  if (::access(folder.c_str(), W_OK | X_OK) != 0)
    throw FileProblem(
        fmt::format("the folder {} is not writable: {}", folder.string(), system_error()));
}

void prepare_database_file(const std::filesystem::path& database, spdlog::logger& logger) {
  Descriptor created{::open(database.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, file_mode)};
  if (created.get() >= 0) {
    // The umask may have taken bits from 0600; SQLite needs both.
    if (::fchmod(created.get(), file_mode) != 0)
      throw FileProblem("cannot set its mode to 0600: " + system_error());
    return;
  }
  if (errno != EEXIST) throw FileProblem("cannot create it: " + system_error());
  struct stat status {};
  if (::stat(database.c_str(), &status) != 0)
    throw FileProblem("cannot open it: " + system_error());
  if (!S_ISREG(status.st_mode)) throw FileProblem("not a regular file");
  // SQLite gives journal files it creates the database's mode, but keeps
  // the mode of ones a crash left behind.
  for (const auto* suffix : {"", "-wal", "-shm"}) narrow_mode(database.string() + suffix, logger);
}

void create_backup_file(const std::filesystem::path& destination) {
  Descriptor created{
      ::open(destination.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, file_mode)};
  if (created.get() >= 0) {
    if (::fchmod(created.get(), file_mode) != 0) throw FileProblem(system_error());
    return;
  }
  if (errno != EEXIST) throw FileProblem(system_error());
  struct stat status {};
  if (::stat(destination.c_str(), &status) != 0 || !S_ISREG(status.st_mode) || status.st_size != 0)
    throw FileProblem("the file exists and is not empty");
}

void sync_file(const std::filesystem::path& path) {
  Descriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.get() < 0 || ::fsync(file.get()) != 0) throw FileProblem(system_error());
}

StateFileLock::StateFileLock(const std::filesystem::path& database) {
  auto lock_path = database.string() + ".lock";
  Descriptor lock{::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, file_mode)};
  if (lock.get() < 0)
    throw FileProblem(fmt::format("cannot open its lock file {}: {}", lock_path, system_error()));
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      throw FileProblem(fmt::format("locked by another running node (it holds {})", lock_path));
    throw FileProblem(fmt::format("cannot lock {}: {}", lock_path, system_error()));
  }
  descriptor_ = lock.release();
}

StateFileLock::~StateFileLock() {
  // Closing the only descriptor releases the flock.
  if (descriptor_ >= 0) ::close(descriptor_);
}

}  // namespace processpype::state
