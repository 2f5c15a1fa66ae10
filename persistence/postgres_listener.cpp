// Several nodes: the listener of the shared pool's channel. A commit that
// changed the pool runs pg_notify(pool_channel, <its node>) before COMMIT
// (postgres_connect.cpp), so the server delivers it to every listening
// connection once, and only once, the transaction committed. This
// connection of its own only LISTENs and waits; it never takes part in a
// transaction.

#include "messages/error.hpp"
#include "persistence/postgres_impl.hpp"

namespace sb {

namespace {

/// Remembers whether a notification came from another node than `self`.
class pool_receiver final : public pqxx::notification_receiver {
public:
  pool_receiver(pqxx::connection_base& conn, std::string self)
      : pqxx::notification_receiver(conn, pool_channel),
        self_(std::move(self)) {
    // nop
  }

  void operator()(const std::string& payload, int) override {
    if (payload != self_)
      heard_ = true;
  }

  bool heard() const { return heard_; }

  /// Whether another node's commit was heard since the last take().
  bool take() {
    auto result = heard_;
    heard_ = false;
    return result;
  }

private:
  std::string self_;
  bool heard_ = false;
};

class pg_listener final : public store::change_listener {
public:
  pg_listener(std::unique_ptr<pqxx::connection> conn, const std::string& node,
              postgres_target target)
      : conn_(std::move(conn)),
        receiver_(std::make_unique<pool_receiver>(*conn_, node)),
        target_(std::move(target)) {
    // nop
  }

  ~pg_listener() override {
    // The receiver refers to the connection: it goes first.
    receiver_.reset();
  }

  caf::expected<bool> wait(millis timeout) override {
    try {
      // Whatever arrived already, then wait for more only if nothing did.
      conn_->get_notifs();
      if (!receiver_->heard()) {
        conn_->await_notification(timeout / 1000, (timeout % 1000) * 1000);
        if (!conn_->is_open())
          return make_error(ec::store_failure, "the listening connection to '"
                                                 + target_.display
                                                 + "' closed");
      }
      return receiver_->take();
    } catch (const std::exception& e) {
      return make_error(ec::store_failure,
                        "listening on '" + target_.display
                          + "' failed: " + scrub(e.what(), target_.secrets));
    }
  }

private:
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<pool_receiver> receiver_;
  postgres_target target_;
};

} // namespace

caf::expected<std::unique_ptr<store::change_listener>>
postgres_store::listen() {
  auto& target = impl_->conn.target;
  try {
    auto conn = std::make_unique<pqxx::connection>(target.conninfo);
    std::unique_ptr<change_listener> result
      = std::make_unique<pg_listener>(std::move(conn), node_, target);
    return result;
  } catch (const std::exception& e) {
    return make_error(ec::store_failure,
                      "cannot listen on '" + target.display
                        + "': " + scrub(e.what(), target.secrets));
  }
}

} // namespace sb
