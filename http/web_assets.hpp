#pragma once

// The dashboard's files (web/), built into the daemon: the build turns each
// file into bytes of a generated source (cmake/embed_web.cmake), so the page
// needs nothing at run time beyond the daemon. Edit the files under web/.

#include <string_view>

namespace sb::http {

/// One file of the dashboard: where it is served, its type, its bytes.
struct web_asset {
  std::string_view path;
  std::string_view content_type;
  std::string_view body;
};

/// The files, in no particular order.
const web_asset* web_assets_begin();
const web_asset* web_assets_end();

} // namespace sb::http
