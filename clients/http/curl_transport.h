// CurlTransport: the production HttpTransport (and Scheduler), on libcurl's multi interface.
//
// One event-loop thread serves every request and every timer task of the transport: Send and
// RunAfter queue work under a mutex and wake the loop (curl_multi_wakeup); the loop starts the
// transfers, drives them with curl_multi_perform/curl_multi_poll and runs callbacks and due tasks.
// No thread ever waits on an upstream call. Connections are kept alive and reused from the multi
// handle's connection cache. At most max_connections_per_host requests per upstream host
// (scheme://host:port) are in progress at a time (so at most that many connections, or HTTP/2
// streams when an HTTPS upstream multiplexes); further requests wait in a first-come-first-served
// queue of the transport (their deadlines still apply, checked every 10 ms).
//
// Behaviour of every request:
//   - timeout from its deadline (CURLOPT_TIMEOUT_MS); a deadline already passed when the loop
//     picks the request up gives DEADLINE_EXCEEDED without sending anything;
//   - connect (TCP + TLS handshake) timeout from options.connect_timeout;
//   - redirects are NOT followed: a 3xx is returned as the response;
//   - only http and https URLs; TLS peer and host verification always on (system CA bundle, or
//     options.ca_file);
//   - proxies come from the standard environment variables, as libcurl reads them: http_proxy
//     (lower case only, against "httpoxy"), https_proxy / HTTPS_PROXY, all_proxy / ALL_PROXY,
//     no_proxy / NO_PROXY. Nothing here disables or overrides that;
//   - the cookie engine is never enabled; CURLOPT_NOSIGNAL is set; compressed responses are
//     accepted and decoded (the body limit applies to the decoded body);
//   - response headers are collected with lower-cased names, in order (of the final response:
//     interim 1xx responses are discarded);
//   - a response whose body exceeds options.max_response_bytes (or whose header block does)
//     fails with RESOURCE_EXHAUSTED: a deterministic problem, deliberately not UNAVAILABLE, so it
//     is never retried;
//   - a request body is sent with exactly the caller's headers: libcurl's default
//     "Content-Type: application/x-www-form-urlencoded" and "Expect: 100-continue" are suppressed
//     unless the caller sets them. Header names must be tokens and values must not contain CR,
//     LF or NUL (INVALID_ARGUMENT otherwise: no header injection).
//
// Errors (messages name the method and the URL through RedactUrl and are passed through the
// redaction helper, so they never carry credentials):
//   CURLE_OPERATION_TIMEDOUT        -> DEADLINE_EXCEEDED, or UNAVAILABLE when it was the connect
//                                      timeout that fired (before the deadline, nothing sent)
//   could not resolve host/proxy, could not connect, send/recv errors, empty reply, TLS
//   handshake and verification errors, HTTP/2 and proxy errors
//                                   -> UNAVAILABLE
//   unreadable CA file              -> FAILED_PRECONDITION
//   malformed URL, unsupported scheme, bad method/header
//                                   -> INVALID_ARGUMENT
//   body or headers over the limit  -> RESOURCE_EXHAUSTED
//   transport shutting down         -> CANCELLED
//   anything else                   -> UNKNOWN
// UNAVAILABLE and DEADLINE_EXCEEDED errors of a request that certainly never left the process
// (libcurl never reached the point of sending it: CURLOPT_PREREQFUNCTION was not called) carry
// the MarkNotSent payload (retry_policy.h), which lets the retry policy repeat even a
// non-idempotent request.
//
// Name resolution uses libcurl's threaded resolver: a lookup that misses libcurl's DNS cache
// (60 s) runs on a short-lived helper thread of libcurl's own.
//
// Thread safety: all public methods may be called from any thread, concurrently. Callbacks and
// tasks run on the loop thread (after Shutdown has returned: on a helper thread), never inline
// from Send/RunAfter, and must not block. Do not call Shutdown from a callback expecting it to
// wait (it only initiates shutdown there), and never destroy the transport from its own
// callbacks.
#ifndef ONSYNC_CLIENTS_HTTP_CURL_TRANSPORT_H_
#define ONSYNC_CLIENTS_HTTP_CURL_TRANSPORT_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/http/http_transport.h"
#include "clients/http/scheduler.h"

namespace onsync::clients {

struct CurlTransportOptions {
  // TCP connect plus TLS handshake (CURLOPT_CONNECTTIMEOUT_MS); the request's deadline, if
  // earlier, wins.
  absl::Duration connect_timeout = absl::Seconds(5);
  // Requests in progress per upstream host (more wait in a FIFO queue), and
  // CURLMOPT_MAX_HOST_CONNECTIONS. The connection cache (CURLMOPT_MAXCONNECTS) keeps up to four
  // times this many idle connections, enough for a few upstream hosts.
  int max_connections_per_host = 32;
  // PEM bundle of trusted CAs (CURLOPT_CAINFO); empty: the system's bundle.
  std::string ca_file;
  // Limit on a response's decoded body (and, separately, on its header block).
  size_t max_response_bytes = size_t{16} << 20;
  std::string user_agent = "onsync/0.1";
};

class CurlTransport final : public HttpTransport, public Scheduler {
 public:
  // Initialises libcurl (once per process) and starts the loop thread. Errors: INVALID_ARGUMENT
  // for bad options (non-positive timeout/limits, unreadable ca_file); INTERNAL if libcurl cannot
  // be initialised.
  static absl::StatusOr<std::unique_ptr<CurlTransport>> Create(CurlTransportOptions options = {});

  // Shutdown().
  ~CurlTransport() override;

  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  // See HttpTransport. After Shutdown has begun, `done` receives CANCELLED (asynchronously).
  void Send(HttpRequest request, HttpCallback done) override;

  // Runs `task` on the loop thread after `delay` (FIFO among tasks due at the same time). After
  // Shutdown has begun, pending and new tasks run promptly, regardless of their delay.
  void RunAfter(absl::Duration delay, absl::AnyInvocable<void() &&> task) override;

  // Stops accepting work: queued and in-flight requests complete with CANCELLED, pending tasks
  // run at once, and the loop thread is joined (after every callback and task it had, including
  // those they queue in turn, has run). Idempotent and thread-safe; blocks until done, except
  // when called from a callback or task, where it only initiates the shutdown. Requests and tasks
  // arriving afterwards are completed/run promptly on a helper thread.
  void Shutdown();

  // Requests accepted by Send whose callback has not run yet.
  size_t in_flight() const;

 private:
  class Impl;
  explicit CurlTransport(std::unique_ptr<Impl> impl);

  const std::unique_ptr<Impl> impl_;
};

}  // namespace onsync::clients

#endif  // ONSYNC_CLIENTS_HTTP_CURL_TRANSPORT_H_
