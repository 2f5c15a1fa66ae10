#include "actors/token_index.hpp"

#include "messages/error.hpp"
#include "messages/fingerprint.hpp"

namespace sb {

void token_index::add(const std::string& sub, const std::string& sha256) {
  owners_[sha256] = sub;
  current_[sub] = sha256;
}

void token_index::remove(const std::string& sub) {
  for (auto i = owners_.begin(); i != owners_.end();)
    i = i->second == sub ? owners_.erase(i) : std::next(i);
  current_.erase(sub);
  providers_.erase(sub);
  refreshable_.erase(sub);
}

void token_index::set_refreshable(const std::string& sub, bool yes) {
  if (yes)
    refreshable_[sub] = true;
  else
    refreshable_.erase(sub);
}

bool token_index::refreshable(const std::string& sub) const {
  return refreshable_.count(sub) != 0;
}

void token_index::set_provider(const std::string& sub, provider_kind p) {
  if (p == provider_kind::anthropic)
    providers_.erase(sub);
  else
    providers_[sub] = p;
}

provider_kind token_index::provider(const std::string& sub) const {
  auto i = providers_.find(sub);
  return i == providers_.end() ? provider_kind::anthropic : i->second;
}

caf::expected<token_index::match>
token_index::resolve(const std::string& prefix) const {
  auto starts = [&](const std::string& sha) {
    return sha.compare(0, prefix.size(), prefix) == 0;
  };
  auto i = owners_.lower_bound(prefix);
  if (i == owners_.end() || !starts(i->first))
    return make_error(ec::invalid_argument,
                      "no subscription has (or had) a token with fingerprint "
                        + prefix);
  if (auto j = std::next(i); j != owners_.end() && starts(j->first))
    return make_error(ec::invalid_argument,
                      "the fingerprint prefix " + prefix
                        + " matches several tokens; give more digits");
  auto cur = current_.find(i->second);
  return match{i->second, i->first,
               cur != current_.end() && cur->second == i->first};
}

std::string token_index::current(const std::string& sub) const {
  auto i = current_.find(sub);
  return i == current_.end() ? std::string{} : i->second;
}

caf::error resolve_identity(const token_index& tokens,
                            std::string& subscription,
                            std::string& token_sha256) {
  if (token_sha256.empty()) {
    // A named subscription must exist: one rule, before and after a restart.
    if (!subscription.empty() && tokens.current(subscription).empty())
      return make_error(ec::unknown_subscription,
                        "unknown subscription '" + subscription + "'");
    return caf::none;
  }
  auto prefix = normalize_fingerprint(token_sha256);
  if (!prefix)
    return prefix.error();
  auto token = tokens.resolve(*prefix);
  if (!token)
    return token.error();
  if (!subscription.empty() && subscription != token->subscription)
    return make_error(ec::invalid_argument, "the token " + *prefix
                                              + " belongs to subscription '"
                                              + token->subscription + "', not '"
                                              + subscription + "'");
  token_sha256 = token->sha256;
  subscription = token->subscription;
  return caf::none;
}

} // namespace sb
