#pragma once

#include <string_view>

namespace processpype::rest {

/// A file of the pages the node serves (rest/pages: /ui and /docs),
/// compiled into the binary.
struct Asset {
  std::string_view name;  ///< its path under rest/pages, e.g. `ui/index.html`
  std::string_view content_type;
  std::string_view body;
};

/// The asset called `name`; null when there is none.
const Asset* find_asset(std::string_view name);

}  // namespace processpype::rest
