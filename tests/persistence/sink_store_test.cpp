// Notification sinks in the store, on every backend: kept with their
// secrets sealed, replaced by name, removed.

#include "persistence/store_backend.hpp"

#include <fstream>
#include <sstream>

using namespace sb;
using namespace sb::test;

namespace {

class sink_store : public store_backend {
protected:
  sink_spec webhook() {
    sink_spec spec;
    spec.name = "ops";
    spec.kind = sink_kind::webhook;
    spec.url.value = "https://hooks.example.com/in/SECRET-PATH-123";
    spec.signing_secret.value = "whsec-SECRET-456";
    spec.events = {"switched", "pool_exhausted"};
    spec.min_severity = "warning";
    spec.digest = false;
    return spec;
  }
};

} // namespace

TEST_P(sink_store, a_sink_is_kept_with_its_secrets_sealed) {
  auto put = db->put_sink(webhook(), t0);
  ASSERT_TRUE(put) << render(put.error());
  EXPECT_EQ(put->host, "https://hooks.example.com");
  EXPECT_TRUE(put->signed_);
  auto all = db->sinks();
  ASSERT_TRUE(all) << render(all.error());
  ASSERT_EQ(all->size(), 1u);
  auto& s = all->front();
  EXPECT_EQ(s.info.name, "ops");
  EXPECT_EQ(s.info.kind, sink_kind::webhook);
  EXPECT_EQ(s.info.events,
            (std::vector<std::string>{"switched", "pool_exhausted"}));
  EXPECT_EQ(s.info.min_severity, "warning");
  EXPECT_FALSE(s.info.digest);
  EXPECT_EQ(s.url.value, "https://hooks.example.com/in/SECRET-PATH-123");
  EXPECT_EQ(s.signing_secret.value, "whsec-SECRET-456");
  EXPECT_TRUE(s.chat_id.value.empty());
  if (GetParam() == backend::file) {
    std::ifstream db_in{dir.file("state.db"), std::ios::binary};
    std::ifstream wal_in{dir.file("state.db") + "-wal", std::ios::binary};
    std::stringstream bytes;
    bytes << db_in.rdbuf() << wal_in.rdbuf();
    EXPECT_EQ(bytes.str().find("SECRET-PATH"), std::string::npos);
    EXPECT_EQ(bytes.str().find("whsec-SECRET"), std::string::npos);
  }
}

TEST_P(sink_store, a_sink_is_replaced_by_name_and_removed) {
  ASSERT_TRUE(db->put_sink(webhook(), t0));
  sink_spec tg;
  tg.name = "ops";
  tg.kind = sink_kind::telegram;
  tg.url.value = "https://api.telegram.org/botTOKEN/sendMessage";
  tg.chat_id.value = "-100123";
  ASSERT_TRUE(db->put_sink(tg, t0 + 1));
  auto all = db->sinks();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().info.kind, sink_kind::telegram);
  EXPECT_FALSE(all->front().info.signed_);
  EXPECT_EQ(all->front().chat_id.value, "-100123");
  EXPECT_TRUE(all->front().info.events.empty());
  EXPECT_FALSE(db->remove_sink("ops"));
  auto err = db->remove_sink("ops");
  EXPECT_TRUE(is(err, ec::not_found)) << render(err);
  all = db->sinks();
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());
}

TEST_P(sink_store, a_sink_delivers_what_came_after_it_and_retries_when_due) {
  notification_info n;
  n.agent = "a1";
  n.kind = notification_kind::switched;
  n.title = "before the sink";
  n.message = "m";
  n.created_at = t0;
  ASSERT_TRUE(db->add_notification(n));
  ASSERT_TRUE(db->put_sink(webhook(), t0));
  n.title = "first";
  auto first = db->add_notification(n);
  n.title = "second";
  auto second = db->add_notification(n);
  ASSERT_TRUE(first && second);
  auto sink = db->sinks()->front();
  auto due = db->take_deliveries(sink, t0, 100, 60000);
  ASSERT_TRUE(due) << render(due.error());
  ASSERT_EQ(due->size(), 2u);
  EXPECT_EQ(due->at(0).note.title, "first");
  EXPECT_EQ(due->at(0).attempts, 0u);
  // The first failed once (retry in 2 s), the second was delivered.
  delivery_record rec;
  rec.sink_id = sink.info.id;
  rec.notification_id = *first;
  rec.state = delivery_state::pending;
  rec.attempts = 1;
  rec.next_at = t0 + 2000;
  rec.last_status = 503;
  rec.last_error = "HTTP 503";
  ASSERT_FALSE(db->record_delivery(rec, t0));
  auto done = rec;
  done.notification_id = *second;
  done.state = delivery_state::delivered;
  done.next_at = 0;
  done.last_status = 200;
  done.last_error.clear();
  ASSERT_FALSE(db->record_delivery(done, t0));
  due = db->take_deliveries(sink, t0 + 1000, 100, 60000);
  ASSERT_TRUE(due);
  EXPECT_TRUE(due->empty());
  due = db->take_deliveries(sink, t0 + 2000, 100, 60000);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ(due->front().attempts, 1u);
  // It gives up: listed as failed, never due again.
  rec.state = delivery_state::failed;
  rec.attempts = 10;
  ASSERT_FALSE(db->record_delivery(rec, t0 + 3000));
  due = db->take_deliveries(sink, t0 + 9000, 100, 60000);
  ASSERT_TRUE(due);
  EXPECT_TRUE(due->empty());
  auto failed = db->failed_deliveries(10);
  ASSERT_TRUE(failed);
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ(failed->front().sink, "ops");
  EXPECT_EQ(failed->front().notification_id, *first);
  EXPECT_EQ(failed->front().attempts, 10u);
  EXPECT_EQ(failed->front().last_error, "HTTP 503");
  // A removed sink takes its deliveries along.
  ASSERT_FALSE(db->remove_sink("ops"));
  failed = db->failed_deliveries(10);
  ASSERT_TRUE(failed);
  EXPECT_TRUE(failed->empty());
}

TEST_P(sink_store, a_taken_delivery_is_held_by_its_node_until_its_lease) {
  notification_info n;
  n.agent = "a1";
  n.kind = notification_kind::pool_exhausted;
  n.title = "t";
  n.message = "m";
  n.created_at = t0;
  n.pool = "claude";
  n.reset_at = t0 + 3600000;
  ASSERT_TRUE(db->put_sink(webhook(), t0));
  auto id = db->add_notification(n);
  ASSERT_TRUE(id);
  auto sink = db->sinks()->front();
  auto taken = db->take_deliveries(sink, t0, 10, 60000);
  ASSERT_TRUE(taken) << render(taken.error());
  ASSERT_EQ(taken->size(), 1u);
  // The fields a machine reads come back as they went in.
  EXPECT_EQ(taken->front().note.pool, "claude");
  EXPECT_EQ(taken->front().note.reset_at, t0 + 3600000);
  // The same node (a restart of it) takes it again at once.
  taken = db->take_deliveries(sink, t0 + 1, 10, 60000);
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->size(), 1u);
  // Another node (one store shared by several: PostgreSQL) does not, until
  // the lease ran out.
  if (GetParam() == backend::postgres) {
    db->set_node("other", 1);
    taken = db->take_deliveries(sink, t0 + 2, 10, 60000);
    ASSERT_TRUE(taken);
    EXPECT_TRUE(taken->empty());
  }
  taken = db->take_deliveries(sink, t0 + 60001, 10, 60000);
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->size(), 1u);
  auto st = db->sink_statuses();
  ASSERT_TRUE(st) << render(st.error());
  ASSERT_EQ(st->size(), 1u);
  EXPECT_EQ(st->front().pending, 1u);
  EXPECT_EQ(st->front().delivered, 0u);
  delivery_record rec;
  rec.sink_id = sink.info.id;
  rec.notification_id = *id;
  rec.state = delivery_state::delivered;
  rec.attempts = 1;
  rec.last_status = 204;
  ASSERT_FALSE(db->record_delivery(rec, t0 + 60002));
  st = db->sink_statuses();
  ASSERT_TRUE(st);
  EXPECT_EQ(st->front().pending, 0u);
  EXPECT_EQ(st->front().delivered, 1u);
  EXPECT_EQ(st->front().last_delivered_at, t0 + 60002);
  EXPECT_EQ(st->front().last_status, 204);
  EXPECT_EQ(st->front().info.name, "ops");
}

TEST(sink_spec_check, bad_specs_are_refused_without_quoting_secrets) {
  sink_spec ok;
  ok.name = "ops";
  ok.url.value = "https://hooks.example.com/x";
  EXPECT_FALSE(validate(ok));
  auto refused = [](sink_spec s, const char* says) {
    auto err = validate(s);
    ASSERT_TRUE(err) << says;
    auto msg = render(err);
    EXPECT_NE(msg.find(says), std::string::npos) << msg;
    EXPECT_EQ(msg.find("SECRET"), std::string::npos) << msg;
  };
  auto s = ok;
  s.url.value = "ftp://SECRET@host/x";
  refused(s, "http:// or https://");
  s = ok;
  s.url.value = "https://";
  refused(s, "http:// or https://");
  s = ok;
  s.kind = sink_kind::telegram;
  refused(s, "chat id");
  s = ok;
  s.chat_id.value = "SECRET";
  refused(s, "belongs to a telegram sink");
  s = ok;
  s.kind = sink_kind::slack;
  s.signing_secret.value = "SECRET";
  refused(s, "belongs to a webhook sink");
  s = ok;
  s.events = {"switched", "bogus"};
  refused(s, "unknown event type 'bogus'");
  s = ok;
  s.min_severity = "loud";
  refused(s, "info, warning or critical");
  EXPECT_EQ(url_host("https://u:SECRET@hooks.example.com:8443/a?b"),
            "https://hooks.example.com:8443");
}

INSTANTIATE_TEST_SUITE_P(file_and_memory, sink_store,
                         ::testing::Values(backend::memory, backend::file),
                         backend_name);
INSTANTIATE_TEST_SUITE_P(postgres, sink_store,
                         ::testing::Values(backend::postgres), backend_name);
