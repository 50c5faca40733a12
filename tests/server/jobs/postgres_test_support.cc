#include "tests/server/jobs/postgres_test_support.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace onsync::jobs::postgres_testing {
namespace {

std::string RandomHex(int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device device;
  std::string out;
  for (int i = 0; i < digits; ++i) out.push_back(kHex[device() % 16]);
  return out;
}

// A value in a key=value connection string: single-quoted, with \ and ' escaped.
std::string Quoted(const std::string& value) {
  return absl::StrCat("'", absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"'", "\\'"}}), "'");
}

}  // namespace

std::string MissingDsnMessage() {
  return absl::StrCat(
      kTestDsnVariable,
      " is not set, so the PostgreSQL job store tests cannot run. Run the suite with "
      "scripts/test.sh (it starts a throw-away PostgreSQL and sets ",
      kTestDsnVariable,
      "), or start one yourself: scripts/postgres.sh start /tmp/onsync-pg && export ",
      kTestDsnVariable,
      "=\"$(cat /tmp/onsync-pg/dsn)\" (stop it with scripts/postgres.sh stop "
      "/tmp/onsync-pg).");
}

absl::StatusOr<std::string> TestDsn() {
  const char* dsn = std::getenv(kTestDsnVariable);
  if (dsn == nullptr || dsn[0] == '\0') return absl::FailedPreconditionError(MissingDsnMessage());
  return std::string(dsn);
}

absl::StatusOr<std::string> DsnWith(const std::string& dsn,
                                    const std::map<std::string, std::string>& extra) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
  if (options == nullptr) {
    std::string message = error != nullptr ? error : "out of memory";
    if (error != nullptr) PQfreemem(error);
    return absl::InvalidArgumentError(absl::StrCat(kTestDsnVariable, ": ", message));
  }
  std::string out;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val == nullptr || extra.count(option->keyword) > 0) continue;
    absl::StrAppend(&out, option->keyword, "=", Quoted(option->val), " ");
  }
  PQconninfoFree(options);
  for (const auto& [key, value] : extra) absl::StrAppend(&out, key, "=", Quoted(value), " ");
  return out;
}

absl::StatusOr<std::unique_ptr<SqlConnection>> SqlConnection::Open(const std::string& dsn) {
  PGconn* conn = PQconnectdb(dsn.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    absl::Status status = absl::UnavailableError(
        absl::StrCat("cannot connect to the test database: ", PQerrorMessage(conn)));
    PQfinish(conn);
    return status;
  }
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<SqlConnection>(new SqlConnection(conn));
}

SqlConnection::~SqlConnection() { PQfinish(conn_); }

absl::StatusOr<std::vector<std::vector<std::string>>> SqlConnection::Query(
    const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const std::string& param : params) values.push_back(param.c_str());
  PGresult* result = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                  values.data(), nullptr, nullptr, 0);
  const ExecStatusType status = PQresultStatus(result);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    absl::Status error = absl::InternalError(absl::StrCat(sql, ": ", PQresultErrorMessage(result)));
    PQclear(result);
    return error;
  }
  std::vector<std::vector<std::string>> rows;
  for (int row = 0; row < PQntuples(result); ++row) {
    std::vector<std::string>& columns = rows.emplace_back();
    for (int column = 0; column < PQnfields(result); ++column) {
      columns.emplace_back(PQgetvalue(result, row, column));
    }
  }
  PQclear(result);
  return rows;
}

absl::StatusOr<std::string> SqlConnection::Value(const std::string& sql,
                                                 const std::vector<std::string>& params) {
  absl::StatusOr<std::vector<std::vector<std::string>>> rows = Query(sql, params);
  if (!rows.ok()) return rows.status();
  if (rows->empty() || rows->front().empty()) return std::string();
  return rows->front().front();
}

absl::StatusOr<std::unique_ptr<TestSchema>> TestSchema::Create() {
  absl::StatusOr<std::string> base = TestDsn();
  if (!base.ok()) return base.status();
  std::unique_ptr<TestSchema> schema(new TestSchema());
  const std::string suffix = RandomHex(16);
  schema->name_ = absl::StrCat("test_", suffix);
  schema->application_name_ = absl::StrCat("onsync_test_", suffix);
  absl::StatusOr<std::string> dsn =
      DsnWith(*base, {{"options", absl::StrCat("-c search_path=", schema->name_)},
                      {"application_name", schema->application_name_}});
  if (!dsn.ok()) return dsn.status();
  schema->dsn_ = *dsn;
  absl::StatusOr<std::string> sql_dsn =
      DsnWith(*base, {{"options", absl::StrCat("-c search_path=", schema->name_)}});
  if (!sql_dsn.ok()) return sql_dsn.status();
  absl::StatusOr<std::unique_ptr<SqlConnection>> sql = SqlConnection::Open(*sql_dsn);
  if (!sql.ok()) return sql.status();
  // The name is made of [a-z0-9_] only: safe to write into the statement as an identifier.
  if (auto created = (*sql)->Query(absl::StrCat("CREATE SCHEMA ", schema->name_)); !created.ok()) {
    return created.status();
  }
  schema->sql_ = *std::move(sql);
  return schema;
}

TestSchema::~TestSchema() {
  if (sql_ == nullptr) return;
  // A store may still hold connections (LISTEN) that a DROP would wait for: none do after the
  // stores were destroyed, which the tests do first.
  (void)sql_->Query(absl::StrCat("DROP SCHEMA IF EXISTS ", name_, " CASCADE"));
}

}  // namespace onsync::jobs::postgres_testing
