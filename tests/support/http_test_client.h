// A tiny blocking HTTP/1.1 client for tests, over a raw POSIX TCP socket. It sends exactly the
// bytes a test gives it (malformed requests included) and parses responses leniently enough to
// observe what a server really sent: status, headers, Content-Length or chunked bodies, and
// whether the peer closed the connection.
//
// Thread-safety: an HttpTestConnection is not thread-safe; use each from one thread at a time.
// HttpRequest is safe to call concurrently (each call uses its own connection).

#ifndef ONSYNC_TESTS_SUPPORT_HTTP_TEST_CLIENT_H_
#define ONSYNC_TESTS_SUPPORT_HTTP_TEST_CLIENT_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace onsync::testing {

struct HttpResult {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-cased names, in order
  std::string body;                                          // de-chunked

  // First value of the (case-insensitive) header `name`, or nullopt.
  std::optional<std::string> Header(std::string_view name) const;
};

// One TCP connection; keep-alive capable. Move-only; closes on destruction.
class HttpTestConnection {
 public:
  // `host` is an IP literal or name ("127.0.0.1", "::1", "[::1]", "localhost"). `timeout` bounds
  // the connect and, later, every SendRaw and ReadResponse call. Refused -> UNAVAILABLE.
  static absl::StatusOr<HttpTestConnection> Connect(std::string host, int port,
                                                    absl::Duration timeout = absl::Seconds(10));

  HttpTestConnection(HttpTestConnection&& other) noexcept;
  HttpTestConnection& operator=(HttpTestConnection&& other) noexcept;
  HttpTestConnection(const HttpTestConnection&) = delete;
  HttpTestConnection& operator=(const HttpTestConnection&) = delete;
  ~HttpTestConnection();

  // Sends all of `bytes`. Peer gone -> UNAVAILABLE; timeout -> DEADLINE_EXCEEDED.
  absl::Status SendRaw(std::string_view bytes);

  // Reads one response: status line, headers, then a body delimited by chunked encoding,
  // Content-Length or (absent both) the end of the connection. 1xx interim responses are returned
  // on their own (call again for the final one). 1xx, 204 and 304 have no body, nor does any
  // response when `head_request` is set. EOF before a complete head -> UNAVAILABLE
  // "connection closed..."; EOF inside the body -> UNAVAILABLE; timeout -> DEADLINE_EXCEEDED;
  // unparsable response -> INTERNAL.
  absl::StatusOr<HttpResult> ReadResponse(bool head_request = false);

  // True if the peer closed (read returns 0, or the connection was reset) within `wait`. Bytes
  // arriving meanwhile are kept for ReadResponse.
  bool IsClosedByPeer(absl::Duration wait);

  // Half-closes the sending direction (the peer reads EOF).
  void ShutdownWrite();

  // The local port of this connection (identifies the socket), or -1.
  int local_port() const;

 private:
  HttpTestConnection(int fd, absl::Duration timeout) : fd_(fd), timeout_(timeout) {}

  void Close();
  // Appends what the socket has to `buffer_`, waiting until `deadline`. Returns the number of
  // bytes read; 0 means EOF.
  absl::StatusOr<size_t> ReadMore(absl::Time deadline);
  // Ensures `buffer_` holds at least `n` bytes.
  absl::Status Fill(size_t n, absl::Time deadline);
  // Removes and returns one CRLF-terminated line (without the CRLF).
  absl::StatusOr<std::string> ReadLine(absl::Time deadline);

  int fd_ = -1;
  absl::Duration timeout_;
  std::string buffer_;  // received, not yet consumed
};

// One request on a fresh connection. Adds Host, Content-Length (when `body` is non-empty or the
// method is POST/PUT) and "Connection: close" unless `headers` already has them; skips 1xx
// interim responses.
absl::StatusOr<HttpResult> HttpRequest(
    std::string_view host, int port, std::string_view method, std::string_view target,
    std::string_view body = "", std::vector<std::pair<std::string, std::string>> headers = {});

}  // namespace onsync::testing

#endif  // ONSYNC_TESTS_SUPPORT_HTTP_TEST_CLIENT_H_
