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

void narrow_database_modes(const std::filesystem::path& database, spdlog::logger& logger) {
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

/// Opens `database` for the lock, creating it empty with mode 0600 when
/// missing. Non-blocking and without a controlling terminal: a device or
/// FIFO put there since check_database_header is refused, not waited on.
int open_database_file(const std::filesystem::path& database) {
  // Read-only is enough for flock, and leaves a file it may not write to
  // SQLite, which names that problem.
  constexpr int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  Descriptor created{::open(database.c_str(), flags | O_CREAT | O_EXCL, file_mode)};
  if (created.get() >= 0) {
    // The umask may have taken bits from 0600; SQLite needs both.
    if (::fchmod(created.get(), file_mode) != 0)
      throw FileProblem("cannot set its mode to 0600: " + system_error());
    return created.release();
  }
  if (errno != EEXIST) throw FileProblem("cannot create it: " + system_error());
  int existing = ::open(database.c_str(), flags);
  // Removed since: the caller opens it again, creating it.
  if (existing < 0 && errno != ENOENT) throw FileProblem("cannot open it: " + system_error());
  return existing;
}

}  // namespace

StateFileLock::StateFileLock(const std::filesystem::path& database) : database_(database) {
  // A lock taken on a file removed meanwhile holds nothing: taken again on
  // the file the path names now.
  constexpr int attempts = 5;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    Descriptor file{open_database_file(database_)};
    if (file.get() < 0) continue;
    struct stat status {};
    if (::fstat(file.get(), &status) != 0) throw FileProblem("cannot open it: " + system_error());
    if (!S_ISREG(status.st_mode)) throw FileProblem("not a regular file");
    if (::flock(file.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) throw FileProblem("locked by another running node");
      throw FileProblem("cannot lock it: " + system_error());
    }
    device_ = status.st_dev;
    inode_ = status.st_ino;
    if (!displaced()) {
      descriptor_ = file.release();
      return;
    }
  }
  throw FileProblem("cannot lock it: it keeps being removed");
}

StateFileLock::~StateFileLock() {
  // Closing the only descriptor releases the flock.
  if (descriptor_ >= 0) ::close(descriptor_);
}

std::optional<std::string> StateFileLock::displaced() const {
  // The locked file stays open, so its inode cannot be reused: a path that
  // names the same device and inode names this file.
  struct stat named {};
  if (::stat(database_.c_str(), &named) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return "was removed while the node runs";
    return "cannot be checked: " + system_error();
  }
  if (named.st_dev != device_ || named.st_ino != inode_)
    return "was replaced by another file while the node runs";
  return std::nullopt;
}

}  // namespace processpype::state
