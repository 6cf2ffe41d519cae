#include "state_files.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
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

namespace {

/// The folders of `folder` and its parents that do not exist, innermost first.
std::vector<std::filesystem::path> missing_folders(const std::filesystem::path& folder) {
  std::vector<std::filesystem::path> missing;
  for (auto step = folder; !step.empty() && ::access(step.c_str(), F_OK) != 0;
       step = step.parent_path()) {
    missing.push_back(step);
    if (step == step.parent_path()) break;
  }
  return missing;
}

/// SQLite writes its -wal and -shm files next to the database.
void require_writable_folder(const std::filesystem::path& folder) {
  struct stat status {};
  if (::stat(folder.c_str(), &status) != 0 || !S_ISDIR(status.st_mode))
    throw FileProblem(fmt::format("{} is not a folder", folder.string()));
  if (::access(folder.c_str(), W_OK | X_OK) != 0)
    throw FileProblem(
        fmt::format("the folder {} is not writable: {}", folder.string(), system_error()));
}

/// The first 16 bytes of every SQLite database (sqlite.org/fileformat.html).
constexpr std::array<char, 16> sqlite_header{'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f',
                                             'o', 'r', 'm', 'a', 't', ' ', '3', '\0'};

/// Up to `buffer.size()` bytes from the start of `descriptor`.
std::size_t read_start(int descriptor, std::array<char, 16>& buffer) {
  std::size_t filled = 0;
  while (filled < buffer.size()) {
    auto count = ::read(descriptor, buffer.data() + filled, buffer.size() - filled);
    if (count == 0) break;
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) throw FileProblem("cannot read it: " + system_error());
    filled += static_cast<std::size_t>(count);
  }
  return filled;
}

}  // namespace

void prepare_folder(const std::filesystem::path& database) {
  auto folder = folder_of(database);
  // Created one by one with mode 0700 (std::filesystem::create_directories
  // would apply the umask to 0777).
  auto missing = missing_folders(folder);
  for (auto it = missing.rbegin(); it != missing.rend(); ++it)
    if (::mkdir(it->c_str(), folder_mode) != 0 && errno != EEXIST)
      throw FileProblem(
          fmt::format("cannot create the folder {}: {}", it->string(), system_error()));
  require_writable_folder(folder);
}

void check_folder(const std::filesystem::path& database) {
  auto folder = folder_of(database);
  auto missing = missing_folders(folder);
  if (missing.empty()) return require_writable_folder(folder);
  // The first mkdir of prepare_folder, with the reason it would fail.
  const auto& outermost = missing.back();
  auto parent =
      outermost.parent_path().empty() ? std::filesystem::path{"."} : outermost.parent_path();
  auto cannot_create = [&](const std::string& reason) {
    return FileProblem(fmt::format("cannot create the folder {}: {}", outermost.string(), reason));
  };
  struct stat status {};
  if (::stat(parent.c_str(), &status) == 0 && !S_ISDIR(status.st_mode))
    throw cannot_create(std::strerror(ENOTDIR));
  if (::access(parent.c_str(), W_OK | X_OK) != 0) throw cannot_create(system_error());
}

void check_database_header(const std::filesystem::path& database) {
  // Non-blocking: a FIFO is refused below, not waited on.
  Descriptor file{::open(database.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (file.get() < 0) {
    // No such file: created later, as a new database; a path through a
    // plain file is its folder's problem, which prepare_folder names.
    if (errno == ENOENT || errno == ENOTDIR) return;
    throw FileProblem("cannot open it: " + system_error());
  }
  struct stat status {};
  if (::fstat(file.get(), &status) != 0) throw FileProblem("cannot open it: " + system_error());
  if (!S_ISREG(status.st_mode)) throw FileProblem("not a regular file");
  std::array<char, 16> start{};
  auto length = read_start(file.get(), start);
  // SQLite makes an empty file a new database.
  if (length != 0 && (length < start.size() || start != sqlite_header))
    throw FileProblem("not a SQLite database");
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

namespace {

/// Opens the lock file, creating it when missing; `created` says which.
int open_lock_file(const std::string& path, bool& created) {
  int descriptor = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, file_mode);
  created = descriptor >= 0;
  if (descriptor < 0 && errno == EEXIST) descriptor = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  return descriptor;
}

/// Whether `path` still names the file open as `descriptor`.
bool still_named(int descriptor, const std::string& path) {
  struct stat opened {};
  struct stat named {};
  return ::fstat(descriptor, &opened) == 0 && ::stat(path.c_str(), &named) == 0 &&
         opened.st_dev == named.st_dev && opened.st_ino == named.st_ino;
}

}  // namespace

StateFileLock::StateFileLock(const std::filesystem::path& database)
    : path_(database.string() + ".lock") {
  // A refused open removes the lock file it created: a lock taken on a file
  // removed meanwhile holds nothing, and is taken again on the new file.
  constexpr int attempts = 5;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    Descriptor lock{open_lock_file(path_, created_)};
    if (lock.get() < 0 && errno == ENOENT) continue;
    if (lock.get() < 0)
      throw FileProblem(fmt::format("cannot open its lock file {}: {}", path_, system_error()));
    if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK)
        throw FileProblem(fmt::format("locked by another running node (it holds {})", path_));
      throw FileProblem(fmt::format("cannot lock {}: {}", path_, system_error()));
    }
    if (still_named(lock.get(), path_)) {
      descriptor_ = lock.release();
      return;
    }
  }
  throw FileProblem(fmt::format("cannot lock {}: it keeps being removed", path_));
}

StateFileLock::~StateFileLock() {
  // Removed while still locked, so that no other open locks it in between.
  if (created_ && !kept_) ::unlink(path_.c_str());
  // Closing the only descriptor releases the flock.
  if (descriptor_ >= 0) ::close(descriptor_);
}

}  // namespace processpype::state
