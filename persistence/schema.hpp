#pragma once

// The database schema as an ordered list of forward migrations. Version N of
// the schema is migrations 1..N applied in order; the `schema_version` table
// holds the highest one applied. A database newer than this binary is refused.

#include <caf/error.hpp>

#include <cstdint>

namespace SQLite {
class Database;
} // namespace SQLite

namespace sb {

/// The schema version this binary writes.
int64_t latest_schema_version();

/// Creates the version table if needed and applies every missing migration,
/// each in its own transaction.
caf::error migrate(SQLite::Database& db);

/// Reads the schema version (0 for an empty database).
int64_t schema_version(SQLite::Database& db);

} // namespace sb
