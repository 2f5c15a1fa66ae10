#include "messages/text_list.hpp"

namespace sb {

std::vector<std::string> split_list(std::string_view text, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find(sep, pos);
    if (end == std::string_view::npos)
      end = text.size();
    if (end > pos)
      out.emplace_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::string join_list(const std::vector<std::string>& items,
                      std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0)
      out += sep;
    out += items[i];
  }
  return out;
}

} // namespace sb
