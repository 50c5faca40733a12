// PostgreSQL plumbing shared by the job store and the create lock (server/jobs/): one libpq
// connection, binary parameters and results, the mapping of errors to absl::Status, the DSN
// check and the stable hash of advisory lock keys.
//
// Errors: UNAVAILABLE for connection problems and transient server conditions (SQLSTATE classes
// 08 connection, 53 insufficient resources, 57 operator intervention, 40 rollback, 55P03 lock not
// available); INVALID_ARGUMENT for values the database refuses (class 22); INTERNAL otherwise.
// Messages carry the SQLSTATE and never the DSN (which may hold a password).
//
// Thread safety: a Connection, Params and Result are not thread-safe (one user at a time); the
// free functions are.
#ifndef ONSYNC_SERVER_JOBS_POSTGRES_CONNECTION_H_
#define ONSYNC_SERVER_JOBS_POSTGRES_CONNECTION_H_

#include <endian.h>
#include <libpq-fe.h>
#include <poll.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/jobs/job_transitions.h"

namespace onsync::jobs::pg {

using internal::AsAbsl;

// Advisory locks of onsync are taken in this key space (the two-int form's first key): "onsj".
inline constexpr int32_t kAdvisoryLockSpace = 0x6f6e736a;
// libpq's connect_timeout (seconds) unless the DSN sets one.
inline constexpr char kDefaultConnectTimeoutSeconds[] = "10";

// Type OIDs of the parameters (pg_type.oid; stable across versions).
inline constexpr Oid kByteaOid = 17;
inline constexpr Oid kInt8Oid = 20;
inline constexpr Oid kTextOid = 25;

// libpq's message on one line (its messages end with a newline and may span lines).
std::string OneLine(const char* message);

// Whether a SQLSTATE says "try again later" rather than "this is wrong".
bool IsTransientSqlState(std::string_view state);

// The status of a failed statement or connection (see "Errors"), its message starting with
// `component` and `what`.
absl::Status PgError(PGconn* conn, const PGresult* result, std::string_view component,
                     std::string_view what);

// A 32-bit FNV-1a hash: advisory lock keys, stable across builds and PostgreSQL versions (unlike
// hashtext()).
int32_t LockKeyHash(std::string_view text);

// OK when libpq can parse `dsn`; INVALID_ARGUMENT (without quoting it) otherwise.
absl::Status CheckDsn(const std::string& dsn);

// Statement parameters, all sent in binary format with their types: int8, text or bytea. Text is
// sent as its bytes (the server checks the encoding and refuses a NUL byte).
class Params {
 public:
  Params& Int(int64_t value) {
    const uint64_t big_endian = htobe64(static_cast<uint64_t>(value));
    return Add(kInt8Oid, std::string(reinterpret_cast<const char*>(&big_endian), 8));
  }
  Params& Text(std::string_view value) { return Add(kTextOid, std::string(value)); }
  Params& Bytes(std::string_view value) { return Add(kByteaOid, std::string(value)); }
  Params& Null(Oid type) {
    types_.push_back(type);
    values_.emplace_back(std::nullopt);
    return *this;
  }

  int size() const { return static_cast<int>(types_.size()); }
  const Oid* types() const { return types_.data(); }
  // Pointers into this object: valid while it lives unchanged.
  std::vector<const char*> Values() const {
    std::vector<const char*> out;
    for (const auto& value : values_) out.push_back(value.has_value() ? value->data() : nullptr);
    return out;
  }
  std::vector<int> Lengths() const {
    std::vector<int> out;
    for (const auto& value : values_) {
      out.push_back(value.has_value() ? static_cast<int>(value->size()) : 0);
    }
    return out;
  }

 private:
  Params& Add(Oid type, std::string bytes) {
    types_.push_back(type);
    values_.emplace_back(std::move(bytes));
    return *this;
  }

  std::vector<Oid> types_;
  std::vector<std::optional<std::string>> values_;
};

// A statement's rows, in binary format.
class Result {
 public:
  explicit Result(PGresult* result) : result_(result, &PQclear) {}

  int rows() const { return PQntuples(result_.get()); }
  bool IsNull(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string_view Bytes(int row, int column) const {
    return std::string_view(PQgetvalue(result_.get(), row, column),
                            PQgetlength(result_.get(), row, column));
  }
  std::string Text(int row, int column) const { return std::string(Bytes(row, column)); }
  // An int2, int4 or int8 column (big-endian in binary format); 0 for NULL.
  int64_t Int(int row, int column) const {
    const std::string_view bytes = Bytes(row, column);
    if (bytes.size() == 8) {
      uint64_t value = 0;
      std::memcpy(&value, bytes.data(), 8);
      return static_cast<int64_t>(be64toh(value));
    }
    if (bytes.size() == 4) {
      uint32_t value = 0;
      std::memcpy(&value, bytes.data(), 4);
      return static_cast<int32_t>(be32toh(value));
    }
    if (bytes.size() == 2) {
      uint16_t value = 0;
      std::memcpy(&value, bytes.data(), 2);
      return static_cast<int16_t>(be16toh(value));
    }
    return 0;
  }
  bool Bool(int row, int column) const {
    const std::string_view bytes = Bytes(row, column);
    return bytes.size() == 1 && bytes[0] != 0;
  }
  const PGresult* get() const { return result_.get(); }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> result_;
};

// One libpq connection. Not thread-safe: one operation uses it at a time.
class Connection {
 public:
  // Connects with `dsn`, after libpq's defaults of onsync: connect_timeout (unless the DSN sets
  // one), application_name "onsync" (ditto), and client_encoding UTF8 (always: jobs are UTF-8).
  // `component` starts its error messages ("job store", "create lock").
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& dsn,
                                                          std::string_view component) {
    const char* keywords[] = {"connect_timeout", "application_name", "dbname", "client_encoding",
                              nullptr};
    const char* values[] = {kDefaultConnectTimeoutSeconds, "onsync", dsn.c_str(), "UTF8", nullptr};
    PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
    if (conn == nullptr)
      return absl::ResourceExhaustedError(absl::StrCat(AsAbsl(component), ": out of memory"));
    if (PQstatus(conn) != CONNECTION_OK) {
      absl::Status status = absl::UnavailableError(absl::StrCat(
          AsAbsl(component), ": cannot connect to PostgreSQL: ", OneLine(PQerrorMessage(conn))));
      PQfinish(conn);
      return status;
    }
    // Notices (e.g. "relation already exists, skipping") are not errors; nobody reads them.
    PQsetNoticeProcessor(
        conn, [](void*, const char*) {}, nullptr);
    return std::unique_ptr<Connection>(new Connection(conn, component));
  }

  ~Connection() { PQfinish(conn_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // A parameterized statement; `what` names it in errors.
  absl::StatusOr<Result> Exec(std::string_view what, const char* sql, const Params& params = {}) {
    ++statements_;
    const std::vector<const char*> values = params.Values();
    const std::vector<int> lengths = params.Lengths();
    const std::vector<int> formats(params.size(), 1);
    Result result(PQexecParams(conn_, sql, params.size(), params.types(), values.data(),
                               lengths.data(), formats.data(), /*resultFormat=*/1));
    return Check(std::move(result), what);
  }

  // Statements without parameters, several at once (migrations: constant SQL, no values).
  absl::Status ExecScript(std::string_view what, const char* sql) {
    ++statements_;
    absl::StatusOr<Result> result = Check(Result(PQexec(conn_, sql)), what);
    return result.status();
  }

  // Ends a transaction that failed (nothing to do when the server already ended it).
  void RollBack() {
    if (PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) != PQTRANS_IDLE) {
      PQclear(PQexec(conn_, "ROLLBACK"));
    }
  }

  // Whether an idle connection still works: not when the server's goodbye (a terminated backend,
  // a restart) waits on its socket, or the socket is closed.
  bool IsAlive() {
    if (PQstatus(conn_) != CONNECTION_OK) return false;
    pollfd fd{.fd = PQsocket(conn_), .events = POLLIN, .revents = 0};
    if (fd.fd < 0) return false;
    if (poll(&fd, 1, 0) > 0) {
      if (PQconsumeInput(conn_) == 0) return false;
      // Pool connections LISTEN to nothing; drop anything stray.
      while (PGnotify* notify = PQnotifies(conn_)) PQfreemem(notify);
    }
    return PQstatus(conn_) == CONNECTION_OK;
  }

  // Whether it may go back to the pool: connected, and not inside a transaction.
  bool IsReusable() const {
    return PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) == PQTRANS_IDLE;
  }
  bool broken() const { return PQstatus(conn_) != CONNECTION_OK; }

  // Counts the statements of one operation, so that a connection found broken on the first one
  // (nothing done yet) can be retried.
  void StartOperation() { statements_ = 0; }
  bool BrokeBeforeDoingAnything() const { return broken() && statements_ <= 1; }

  PGconn* raw() { return conn_; }

 private:
  Connection(PGconn* conn, std::string_view component) : conn_(conn), component_(component) {}

  absl::StatusOr<Result> Check(Result result, std::string_view what) {
    // A null result (out of memory, or the connection was lost) is an error too.
    const ExecStatusType status = PQresultStatus(result.get());
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
    return PgError(conn_, result.get(), component_, what);
  }

  PGconn* conn_;
  std::string component_;
  int statements_ = 0;
};

}  // namespace onsync::jobs::pg

#endif  // ONSYNC_SERVER_JOBS_POSTGRES_CONNECTION_H_
