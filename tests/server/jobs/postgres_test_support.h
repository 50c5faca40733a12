// Test support for the PostgreSQL job store: the test database (ONSYNC_TEST_PG_DSN), a fresh
// schema per test (so that tests run in parallel on one database), and plain SQL beside the store.
//
// The database comes from the environment variable ONSYNC_TEST_PG_DSN, a libpq connection string.
// scripts/test.sh starts a throw-away PostgreSQL (scripts/postgres.sh) and sets it. Without it the
// PostgreSQL tests fail (never skip) with MissingDsnMessage().
//
// Thread safety: TestSchema and SqlConnection are not thread-safe; the functions are.
#ifndef ONSYNC_TESTS_SERVER_JOBS_POSTGRES_TEST_SUPPORT_H_
#define ONSYNC_TESTS_SERVER_JOBS_POSTGRES_TEST_SUPPORT_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct pg_conn;

namespace onsync::jobs::postgres_testing {

inline constexpr char kTestDsnVariable[] = "ONSYNC_TEST_PG_DSN";

// How to run the PostgreSQL tests, for a failure when ONSYNC_TEST_PG_DSN is not set.
std::string MissingDsnMessage();

// ONSYNC_TEST_PG_DSN; FAILED_PRECONDITION with MissingDsnMessage() when it is not set.
absl::StatusOr<std::string> TestDsn();

// `dsn` (key=value or URI) as key=value pairs, with `extra` added or replacing its own values.
absl::StatusOr<std::string> DsnWith(const std::string& dsn,
                                    const std::map<std::string, std::string>& extra);

// A plain libpq connection for what the tests do beside the store.
class SqlConnection {
 public:
  static absl::StatusOr<std::unique_ptr<SqlConnection>> Open(const std::string& dsn);
  ~SqlConnection();
  SqlConnection(const SqlConnection&) = delete;
  SqlConnection& operator=(const SqlConnection&) = delete;

  // Runs `sql` with text parameters; returns every row's columns as text ("" for NULL).
  absl::StatusOr<std::vector<std::vector<std::string>>> Query(
      const std::string& sql, const std::vector<std::string>& params = {});
  // The first column of the first row ("" when there is none).
  absl::StatusOr<std::string> Value(const std::string& sql,
                                    const std::vector<std::string>& params = {});

 private:
  explicit SqlConnection(pg_conn* conn) : conn_(conn) {}
  pg_conn* conn_;
};

// A schema of its own, `test_<16 random hex digits>`, created at Create and dropped (with
// everything in it) when destroyed. dsn() connects with it as the search_path and a unique
// application_name (so that a test can find its store's connections in pg_stat_activity).
class TestSchema {
 public:
  static absl::StatusOr<std::unique_ptr<TestSchema>> Create();
  ~TestSchema();

  const std::string& name() const { return name_; }
  const std::string& application_name() const { return application_name_; }
  const std::string& dsn() const { return dsn_; }
  // A connection to the test database with this schema as the search_path.
  SqlConnection& sql() { return *sql_; }

 private:
  TestSchema() = default;

  std::string name_;
  std::string application_name_;
  std::string dsn_;
  std::unique_ptr<SqlConnection> sql_;
};

}  // namespace onsync::jobs::postgres_testing

#endif  // ONSYNC_TESTS_SERVER_JOBS_POSTGRES_TEST_SUPPORT_H_
