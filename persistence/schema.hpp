#pragma once

// The database schema as an ordered list of forward migrations, one list for
// both dialects (schema.cpp). Version N of the schema is migrations 1..N
// applied in order; the `schema_version` table holds the highest one applied.
// A database newer than this binary is refused. Below: SQLite's entry points.

#include <caf/error.hpp>

#include <cstdint>
#include <functional>

namespace SQLite {
class Database;
} // namespace SQLite

namespace sb {

/// The schema version this binary writes.
int64_t latest_schema_version();

/// The data work of a migration (converting rows), run inside the
/// migration's transaction right after its SQL: called once per version
/// applied. It throws to fail the migration.
using migration_step = std::function<void(SQLite::Database&, int64_t)>;

/// Creates the version table if needed and applies every missing migration
/// up to `target` (0 = the latest; tests build an older database with a
/// lower one), each in its own transaction together with its data step.
caf::error migrate(SQLite::Database& db, const migration_step& step = {},
                   int64_t target = 0);

/// Reads the schema version (0 for an empty database).
int64_t schema_version(SQLite::Database& db);

} // namespace sb
