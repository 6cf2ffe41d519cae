#include "processpype/etcd/base64.hpp"

#include <array>
#include <cstdint>

namespace processpype::etcd {

namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr int invalid = -1;

constexpr std::array<int, 256> make_decoding_table() {
  std::array<int, 256> table{};
  for (auto& entry : table) entry = invalid;
  for (std::size_t index = 0; index < alphabet.size(); ++index)
    table[static_cast<unsigned char>(alphabet[index])] = static_cast<int>(index);
  return table;
}

constexpr auto decoding_table = make_decoding_table();

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t index = 0;
  for (; index + 3 <= bytes.size(); index += 3) {
    std::uint32_t group =
        static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[index])) << 16 |
        static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[index + 1])) << 8 |
        static_cast<unsigned char>(bytes[index + 2]);
    text.push_back(alphabet[group >> 18 & 0x3f]);
    text.push_back(alphabet[group >> 12 & 0x3f]);
    text.push_back(alphabet[group >> 6 & 0x3f]);
    text.push_back(alphabet[group & 0x3f]);
  }
  std::size_t rest = bytes.size() - index;
  if (rest == 0) return text;
  std::uint32_t group = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[index])) << 16;
  if (rest == 2)
    group |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[index + 1])) << 8;
  text.push_back(alphabet[group >> 18 & 0x3f]);
  text.push_back(alphabet[group >> 12 & 0x3f]);
  text.push_back(rest == 2 ? alphabet[group >> 6 & 0x3f] : '=');
  text.push_back('=');
  return text;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string bytes;
  bytes.reserve(text.size() / 4 * 3);
  for (std::size_t index = 0; index < text.size(); index += 4) {
    bool last = index + 4 == text.size();
    int padding = 0;
    if (last && text[index + 3] == '=') padding = text[index + 2] == '=' ? 2 : 1;
    std::uint32_t group = 0;
    for (std::size_t offset = 0; offset < 4; ++offset) {
      int sextet = 0;
      if (offset < 4 - static_cast<std::size_t>(padding)) {
        sextet = decoding_table[static_cast<unsigned char>(text[index + offset])];
        if (sextet == invalid) return std::nullopt;
      }
      group = group << 6 | static_cast<std::uint32_t>(sextet);
    }
    bytes.push_back(static_cast<char>(group >> 16 & 0xff));
    if (padding < 2) bytes.push_back(static_cast<char>(group >> 8 & 0xff));
    if (padding < 1) bytes.push_back(static_cast<char>(group & 0xff));
  }
  return bytes;
}

}  // namespace processpype::etcd
