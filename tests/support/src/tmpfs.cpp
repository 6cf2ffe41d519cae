#include "processpype/testing/tmpfs.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

namespace processpype::testing {

namespace {

std::string system_error(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

}  // namespace

TmpfsMount::TmpfsMount(std::filesystem::path at, std::size_t size_bytes, Access access)
    : path_(std::move(at)) {
  if (::mkdir(path_.c_str(), 0700) != 0 && errno != EEXIST)
    throw std::runtime_error(system_error("mkdir " + path_.string()));
  auto options = "size=" + std::to_string(size_bytes) + ",mode=0700";
  unsigned long flags = access == Access::read_only ? MS_RDONLY : 0;
  if (::mount("tmpfs", path_.c_str(), "tmpfs", flags, options.c_str()) != 0) {
    auto reason = system_error("mount -t tmpfs at " + path_.string());
    ::rmdir(path_.c_str());
    throw std::runtime_error(reason);
  }
}

TmpfsMount::~TmpfsMount() {
  ::umount2(path_.c_str(), MNT_DETACH);
  ::rmdir(path_.c_str());
}

std::filesystem::path TmpfsMount::fill(const std::string& name) const {
  auto file = path_ / name;
  int descriptor = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (descriptor < 0) throw std::runtime_error(system_error("open " + file.string()));
  std::vector<char> block(64 * 1024, 'x');
  // Whole blocks, then single bytes, until the file system refuses more.
  for (std::size_t size : {block.size(), std::size_t{1}})
    while (::write(descriptor, block.data(), size) > 0) {
    }
  auto full = errno == ENOSPC;
  ::close(descriptor);
  if (!full) throw std::runtime_error(system_error("filling " + file.string()));
  return file;
}

}  // namespace processpype::testing
