#pragma once

// A small tmpfs mounted for one test: a full disk on demand (fill it), or a
// read-only file system. Mounting needs CAP_SYS_ADMIN (the tests run as
// root); where it is not allowed the constructor throws, and a test skips
// with the reason (WARN, never a silent pass).

#include <cstddef>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include <catch2/catch.hpp>

namespace processpype::testing {

class TmpfsMount {
 public:
  enum class Access { read_write, read_only };

  /// Creates the directory `at` (mode 0700) and mounts a tmpfs of
  /// `size_bytes` there. Throws std::runtime_error saying why it cannot.
  TmpfsMount(std::filesystem::path at, std::size_t size_bytes, Access access = Access::read_write);
  /// Unmounts (lazily, should a file still be open) and removes the directory.
  ~TmpfsMount();
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;

  const std::filesystem::path& path() const { return path_; }

  /// Writes a file `name` in the mount until no space is left (ENOSPC);
  /// its path. Remove it to free the space again.
  std::filesystem::path fill(const std::string& name = "filler") const;

 private:
  std::filesystem::path path_;
};

/// A tmpfs at `at`, or nullptr after a WARN saying why the test is skipped.
inline std::unique_ptr<TmpfsMount> mount_tmpfs_or_skip(
    const std::filesystem::path& at, std::size_t size_bytes,
    TmpfsMount::Access access = TmpfsMount::Access::read_write) {
  try {
    return std::make_unique<TmpfsMount>(at, size_bytes, access);
  } catch (const std::runtime_error& error) {
    WARN("SKIPPED: this test needs a tmpfs of its own and cannot mount one: " << error.what());
    return nullptr;
  }
}

}  // namespace processpype::testing
