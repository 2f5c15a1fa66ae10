#pragma once

// Lists kept as one text: OAuth scopes ("a b c", as RFC 6749 writes them),
// a sink's event types in the store ("a,b,c"), a list shown to a person.

#include <string>
#include <string_view>
#include <vector>

namespace sb {

/// "a,b,,c" split on ',' -> {a, b, c}: empty items are dropped.
std::vector<std::string> split_list(std::string_view text, char sep);

/// {a, b, c} joined with ", " -> "a, b, c".
std::string join_list(const std::vector<std::string>& items,
                      std::string_view sep);

} // namespace sb
