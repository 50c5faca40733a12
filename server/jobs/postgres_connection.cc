#include "server/jobs/postgres_connection.h"

namespace onsync::jobs::pg {

// libpq's messages end with a newline and may span lines.
std::string OneLine(const char* message) {
  std::string text;
  bool space = false;
  for (const char* c = message != nullptr ? message : ""; *c != '\0'; ++c) {
    if (*c == ' ' || *c == '\n' || *c == '\r' || *c == '\t') {
      space = !text.empty();
      continue;
    }
    if (space) text.push_back(' ');
    space = false;
    text.push_back(*c);
  }
  return text;
}

// Whether a SQLSTATE says "try again later" rather than "this is wrong".
bool IsTransientSqlState(std::string_view state) {
  if (state.size() != 5) return false;
  const std::string_view klass = state.substr(0, 2);
  return klass == "08" || klass == "53" || klass == "57" || klass == "40" || state == "55P03";
}

// The status of a failed statement or connection: see the header's "Errors".
absl::Status PgError(PGconn* conn, const PGresult* result, std::string_view component,
                     std::string_view what) {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary =
      result != nullptr ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const std::string message = OneLine(primary != nullptr ? primary : PQerrorMessage(conn));
  const std::string sql_state = state != nullptr ? state : "";
  std::string text = absl::StrCat(AsAbsl(component), ": ", AsAbsl(what), ": ", message);
  if (!sql_state.empty()) absl::StrAppend(&text, " (SQLSTATE ", sql_state, ")");
  if (PQstatus(conn) == CONNECTION_BAD) {
    return absl::UnavailableError(absl::StrCat(text, "; the connection to PostgreSQL is lost"));
  }
  if (IsTransientSqlState(sql_state)) return absl::UnavailableError(text);
  if (sql_state.rfind("22", 0) == 0) return absl::InvalidArgumentError(text);
  return absl::InternalError(text);
}

// A 32-bit FNV-1a hash: advisory lock keys, stable across builds and PostgreSQL versions (unlike
// hashtext()).
int32_t LockKeyHash(std::string_view text) {
  uint32_t hash = 2166136261u;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 16777619u;
  }
  return static_cast<int32_t>(hash);
}

absl::Status CheckDsn(const std::string& dsn) {
  // libpq's parse error quotes the string, which may hold a password: it is not passed on.
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(dsn.c_str(), &parse_error);
  if (parse_error != nullptr) PQfreemem(parse_error);
  if (parsed == nullptr) {
    return absl::InvalidArgumentError(
        "the PostgreSQL DSN is not a libpq connection string (key=value pairs or a "
        "postgresql:// URI)");
  }
  PQconninfoFree(parsed);
  return absl::OkStatus();
}

}  // namespace onsync::jobs::pg
