// The HTTP/1.1 server core shared by the gateway and the fake upstream APIs: it owns the listening
// socket, the I/O threads and the connections, parses requests, enforces size limits and timeouts,
// and hands each complete request to a non-blocking `Handler`. It knows nothing about routes,
// JSON or gRPC, and it logs nothing (the binaries do).
//
// Thread-safety: `Server` methods are safe to call from any thread. The handler is invoked on the
// I/O threads, possibly concurrently for different connections (never concurrently for one
// connection). A `Respond` may be called or destroyed on any thread.
//
// Boost.Beast and Asio's OpenSSL layer are confined to http_server.cc; this header depends only on
// the standard library, Abseil and common/tls.h.

#ifndef ONSYNC_COMMON_HTTP_SERVER_H_
#define ONSYNC_COMMON_HTTP_SERVER_H_

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/tls.h"

namespace onsync::http {

struct Request {
  std::string method;  // "GET", "POST", ... as sent (any token is accepted)
  std::string target;  // raw request target, e.g. "/v1/jobs/x?a=b"
  std::string path;    // target before the first '?', NOT percent-decoded
  std::string query;   // after the first '?', may be empty
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
  std::string body;                                          // de-chunked when sent chunked
  std::string remote_address;                                // "ip:port", IPv6 as "[ip]:port"
  int version = 11;                                          // 10 for HTTP/1.0, 11 for HTTP/1.1

  // First header value with this (case-insensitive) name, or nullopt. The view points into
  // `headers`.
  std::optional<std::string_view> Header(std::string_view name) const;
};

struct Response {
  // Must be 200..599; anything else is replaced by a 500 error response. 204 and 304 are sent
  // without body and without Content-Length.
  int status = 200;
  // Sent as Content-Type unless empty. A "content-type" entry in `headers` replaces it.
  std::string content_type = "application/json";
  // Extra headers. Content-Length, Transfer-Encoding and Connection are owned by the core and
  // ignored here; headers with an invalid name or a value containing CR, LF or NUL are dropped.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Delivers the response for one request. Call it at most once, from any thread; the response is
// written on the connection's strand. Destroying it without calling it answers 500 (the client is
// never left hanging). Calling it after the connection died or the server stopped is a no-op.
using Respond = absl::AnyInvocable<void(Response) &&>;

// Invoked on an I/O thread for each complete request. Must not block: start async work and call
// `respond` later (from any thread), or call it at once. An exception escaping the handler is
// swallowed (and `respond`, if destroyed by the unwinding, answers 500).
using Handler = std::function<void(Request request, Respond respond)>;

struct ServerOptions {
  // "host:port". The host is an IP literal or "localhost" (= 127.0.0.1); IPv6 is bracketed, e.g.
  // "[::1]:0". Port 0 picks a free port.
  std::string listen = "127.0.0.1:8080";
  int threads = 2;
  size_t max_body_bytes = 1 << 20;     // larger -> 413 (also when Content-Length announces it)
  size_t max_header_bytes = 16 << 10;  // request line + headers; larger -> 431
  // Once the first byte of a request has arrived, the whole request must arrive within this;
  // otherwise the connection is closed without a response (slow-loris defence).
  absl::Duration read_timeout = absl::Seconds(10);
  // How long a connection may wait for the first byte of a request (on a fresh connection and
  // between keep-alive requests) before it is closed.
  absl::Duration idle_timeout = absl::Seconds(30);
  absl::Duration write_timeout = absl::Seconds(10);
  size_t max_connections = 10000;  // beyond: accept and close at once
  // Serve HTTPS (TLS 1.2 or later) with these files instead of plain HTTP. The handshake must
  // complete within `read_timeout`. With `ca_file`, client certificates are requested and
  // verified; `require_client_cert` refuses clients without one.
  std::optional<tls::TlsFiles> tls = std::nullopt;
  // Names the TLS settings in errors (e.g. "gateway.tls"), as in "gateway.tls.key_file: ...".
  std::string tls_name = "tls";
  // Builds the response for errors the core answers itself: 400 (malformed request), 413, 431,
  // 500 (handler dropped `Respond`, threw, or returned an invalid status) and 503 (request
  // completed while shutting down). The status of the returned response is forced to
  // `http_status`. Default: DefaultErrorResponse. Called on I/O threads; must not block.
  std::function<Response(int http_status, std::string_view message)> error_response;
};

// {"code": <gRPC-like code>, "message": "...", "details": []} with code 3 for 400, 8 for 413 and
// 431, 13 for 500, 14 for 503 and 2 (UNKNOWN) otherwise.
Response DefaultErrorResponse(int http_status, std::string_view message);

namespace internal {
class ServerCore;
}  // namespace internal

class Server {
 public:
  // Binds, listens and starts `options.threads` I/O threads. Errors: malformed address or
  // options, or TLS files that do not check out -> INVALID_ARGUMENT (NOT_FOUND /
  // PERMISSION_DENIED for an unreadable TLS file); socket/bind/listen failure -> UNAVAILABLE, with
  // the address and the reason in the message.
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options, Handler handler);

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();  // Shutdown(absl::ZeroDuration()) if still running.

  int port() const { return port_; }                // the bound port
  std::string address() const { return address_; }  // "host:port" actually bound

  // Stops accepting (new connections are refused), closes idle keep-alive connections at once and
  // lets connections finish the request in progress (response written, then closed; a request
  // that completes reading during shutdown gets 503) for up to `grace`; then closes whatever is
  // left and joins the I/O threads. Responses delivered after that are dropped. Idempotent and
  // thread-safe; blocks until done. Called from a handler (an I/O thread), it cannot wait for
  // anything (that thread is needed to finish): there is no grace period, the I/O threads are
  // detached rather than joined (they exit once the handler returns), and a call while another
  // shutdown is in progress returns at once.
  void Shutdown(absl::Duration grace);

  // Requests currently being handled: handler called, response not yet written.
  int in_flight() const;

 private:
  Server(std::shared_ptr<internal::ServerCore> core, int port, std::string address);

  const std::shared_ptr<internal::ServerCore> core_;
  const int port_;
  const std::string address_;
  std::atomic<bool> shutdown_started_{false};
  std::mutex shutdown_mu_;  // held for the whole shutdown
  bool stopped_ = false;    // guarded by shutdown_mu_
};

}  // namespace onsync::http

#endif  // ONSYNC_COMMON_HTTP_SERVER_H_
