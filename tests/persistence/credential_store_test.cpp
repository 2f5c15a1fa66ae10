// The store's side of credentials with a lifecycle, on every backend: an
// imported login (refresh token sealed), the refresher's claim, grant and
// release, and the claim that makes one refresher of the fleet.

#include "messages/fingerprint.hpp"
#include "persistence/store_backend.hpp"

#include <fstream>
#include <sstream>

using namespace sb;
using namespace sb::test;

namespace {

class credential_store : public store_backend {
protected:
  subscription_spec login(const std::string& name, const std::string& access,
                          const std::string& refresh, millis expires) {
    subscription_spec spec;
    spec.name = name;
    spec.token.value = access;
    spec.refresh_token.value = refresh;
    spec.terms.kind = credential_kind::oauth;
    spec.terms.expires_at = expires;
    spec.terms.scopes = {"user:inference", "user:profile"};
    return spec;
  }

  subscription_upsert put(const subscription_spec& spec, millis at = t0) {
    auto res = db->upsert_subscription(spec, at);
    EXPECT_TRUE(res) << render(res.error());
    return res ? *res : subscription_upsert{};
  }

  stored_subscription row(const std::string& name) {
    auto subs = db->subscriptions();
    EXPECT_TRUE(subs);
    for (auto& s : *subs)
      if (s.name == name)
        return s;
    ADD_FAILURE() << "no subscription " << name;
    return {};
  }
};

std::string slurp_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace

TEST_P(credential_store, a_login_is_stored_with_its_refresh_token_sealed) {
  auto up = put(login("team", "access-1", "refresh-secret-1", t0 + 3600'000));
  EXPECT_EQ(up.row.terms.kind, credential_kind::oauth);
  auto r = row("team");
  EXPECT_EQ(r.token.value, "access-1");
  EXPECT_EQ(r.terms.kind, credential_kind::oauth);
  EXPECT_EQ(r.terms.expires_at, t0 + 3600'000);
  EXPECT_EQ(r.terms.scopes,
            (std::vector<std::string>{"user:inference", "user:profile"}));
  auto creds = db->credentials();
  ASSERT_TRUE(creds);
  ASSERT_EQ(creds->size(), 1u);
  auto& c = creds->front();
  EXPECT_EQ(c.name, "team");
  EXPECT_EQ(c.kind, credential_kind::oauth);
  EXPECT_EQ(c.refresh_sha256, token_fingerprint("refresh-secret-1"));
  EXPECT_EQ(c.issued_at, t0);
  if (GetParam() == backend::file) {
    auto bytes = slurp_file(dir.file("state.db"))
                 + slurp_file(dir.file("state.db") + "-wal");
    EXPECT_EQ(bytes.find("refresh-secret-1"), std::string::npos);
  }
}

TEST_P(credential_store, claim_grant_and_release) {
  put(login("team", "access-1", "refresh-1", t0 + 3600'000));
  auto claim = db->claim_refresh("team", t0 + 1000, 60'000);
  ASSERT_TRUE(claim) << render(claim.error());
  ASSERT_TRUE(claim->claimed);
  EXPECT_EQ(claim->refresh_token.value, "refresh-1");
  EXPECT_TRUE(claim->rejected_sha256.empty());
  // The grant: the new access token is the subscription's token (a
  // rotation), the new refresh token replaces the spent one.
  refresh_grant g;
  g.name = "team";
  g.access_token.value = "access-2";
  g.refresh_token.value = "refresh-2";
  g.expires_at = t0 + 7200'000;
  auto up = db->complete_refresh(g, t0 + 2000);
  ASSERT_TRUE(up) << render(up.error());
  EXPECT_TRUE(up->rotated);
  EXPECT_EQ(up->row.token.value, "access-2");
  EXPECT_EQ(up->row.terms.expires_at, t0 + 7200'000);
  EXPECT_EQ(up->row.refreshes, 1u);
  EXPECT_EQ(up->row.terms.scopes.size(), 2u); // kept
  EXPECT_EQ(row("team").token.value, "access-2");
  // A grant without a refresh token keeps the stored one.
  claim = db->claim_refresh("team", t0 + 3000, 60'000);
  ASSERT_TRUE(claim && claim->claimed);
  EXPECT_EQ(claim->refresh_token.value, "refresh-2");
  g.access_token.value = "access-3";
  g.refresh_token.value.clear();
  ASSERT_TRUE(db->complete_refresh(g, t0 + 4000));
  claim = db->claim_refresh("team", t0 + 5000, 60'000);
  ASSERT_TRUE(claim && claim->claimed);
  EXPECT_EQ(claim->refresh_token.value, "refresh-2");
  EXPECT_EQ(claim->cred.refreshes, 2u);
  // A release remembers a rejected token by its fingerprint.
  ASSERT_FALSE(db->release_refresh("team", token_fingerprint("refresh-2")));
  claim = db->claim_refresh("team", t0 + 6000, 60'000);
  ASSERT_TRUE(claim && claim->claimed);
  EXPECT_EQ(claim->rejected_sha256, token_fingerprint("refresh-2"));
  // A new login forgets it.
  put(login("team", "access-9", "refresh-9", t0 + 9000'000));
  claim = db->claim_refresh("team", t0 + 7000, 60'000);
  ASSERT_TRUE(claim && claim->claimed);
  EXPECT_TRUE(claim->rejected_sha256.empty());
  EXPECT_EQ(claim->refresh_token.value, "refresh-9");
}

TEST_P(credential_store, tokens_end_a_chain_and_may_carry_an_expiry) {
  put(login("team", "access-1", "refresh-1", t0 + 3600'000));
  // A static token rotated in: the login's refresh token is forgotten.
  ASSERT_TRUE(db->put_subscription("team", "static-token", t0));
  auto creds = db->credentials();
  ASSERT_TRUE(creds);
  EXPECT_TRUE(creds->empty());
  EXPECT_EQ(row("team").terms.kind, credential_kind::token);
  auto claim = db->claim_refresh("team", t0, 60'000);
  EXPECT_FALSE(claim); // no credential row
  // A token with a known expiry is listed (for its warning), never claimed.
  subscription_spec spec;
  spec.name = "setup";
  spec.token.value = "setup-token";
  spec.terms.expires_at = t0 + 30 * day_ms;
  put(spec);
  creds = db->credentials();
  ASSERT_TRUE(creds);
  ASSERT_EQ(creds->size(), 1u);
  EXPECT_EQ(creds->front().kind, credential_kind::token);
  claim = db->claim_refresh("setup", t0, 60'000);
  ASSERT_TRUE(claim);
  EXPECT_FALSE(claim->claimed);
  // Removal takes the credential along.
  ASSERT_TRUE(db->remove_subscription("setup"));
  creds = db->credentials();
  ASSERT_TRUE(creds);
  EXPECT_TRUE(creds->empty());
}

TEST_P(credential_store, unknown_names_are_errors_and_change_nothing) {
  EXPECT_FALSE(db->claim_refresh("nobody", t0, 1000));
  refresh_grant g;
  g.name = "nobody";
  g.access_token.value = "a";
  g.expires_at = t0;
  EXPECT_FALSE(db->complete_refresh(g, t0));
  auto subs = db->subscriptions();
  ASSERT_TRUE(subs);
  EXPECT_TRUE(subs->empty());
}

INSTANTIATE_TEST_SUITE_P(file_and_memory, credential_store,
                         ::testing::Values(backend::memory, backend::file),
                         backend_name);
INSTANTIATE_TEST_SUITE_P(postgres, credential_store,
                         ::testing::Values(backend::postgres), backend_name);

// Two nodes on one PostgreSQL database: one holds the claim, the other is
// refused until the first releases it or its lease passes.
class credential_nodes : public store_backend {};

TEST_P(credential_nodes, one_holder_of_a_claim_across_nodes) {
  auto other = postgres_store::open(
    {pg->url(), pg->password_file(), dir.file("switchboard.key")});
  ASSERT_TRUE(other) << render(other.error());
  ASSERT_TRUE(db->join("alpha", 60'000));
  ASSERT_TRUE((*other)->join("beta", 60'000));
  subscription_spec spec;
  spec.name = "team";
  spec.token.value = "access-1";
  spec.refresh_token.value = "refresh-1";
  spec.terms.kind = credential_kind::oauth;
  spec.terms.expires_at = t0 + 3600'000;
  ASSERT_TRUE(db->upsert_subscription(spec, t0));
  auto a = db->claim_refresh("team", t0, 30'000);
  ASSERT_TRUE(a && a->claimed);
  auto b = (*other)->claim_refresh("team", t0 + 1000, 30'000);
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->claimed);
  EXPECT_EQ(b->held_until, t0 + 30'000);
  EXPECT_TRUE(b->refresh_token.value.empty());
  // alpha's grant ends its claim; beta then sees the new chain.
  refresh_grant g;
  g.name = "team";
  g.access_token.value = "access-2";
  g.refresh_token.value = "refresh-2";
  g.expires_at = t0 + 7200'000;
  ASSERT_TRUE(db->complete_refresh(g, t0 + 2000));
  b = (*other)->claim_refresh("team", t0 + 3000, 30'000);
  ASSERT_TRUE(b && b->claimed);
  EXPECT_EQ(b->refresh_token.value, "refresh-2");
  // beta died holding it: alpha waits for the lease, then takes over.
  a = db->claim_refresh("team", t0 + 4000, 30'000);
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->claimed);
  a = db->claim_refresh("team", t0 + 34'000, 30'000);
  ASSERT_TRUE(a && a->claimed);
}

INSTANTIATE_TEST_SUITE_P(postgres, credential_nodes,
                         ::testing::Values(backend::postgres), backend_name);
