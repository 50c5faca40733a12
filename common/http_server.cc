#include "common/http_server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/json.h"
#include "common/string_view.h"
#include "common/tls.h"

namespace onsync::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// After an error answered before the request was fully read, the rest of the request is read and
// discarded for a short while before closing: closing with unread data makes the kernel send an
// RST, which can destroy the error response before the client has read it.
constexpr absl::Duration kMaxLinger = absl::Seconds(2);
constexpr size_t kMaxLingerBytes = 1 << 20;
constexpr size_t kReadChunkBytes = 16 << 10;
// Accept failures such as EMFILE persist until a descriptor is freed; retrying at once would spin.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(50);
// Beast's field storage throws for names or values beyond 64 KiB; stay well below.
constexpr size_t kMaxResponseFieldName = 256;
constexpr size_t kMaxResponseFieldValue = 32 << 10;

// Beast 1.74's string_view is boost::string_view; common/string_view.h bridges std's.
using ::onsync::ToAbsl;
absl::string_view ToAbsl(beast::string_view s) { return absl::string_view(s.data(), s.size()); }

int GrpcCodeForHttpStatus(int http_status) {
  switch (http_status) {
    case 400:
      return 3;  // INVALID_ARGUMENT
    case 413:
    case 431:
      return 8;  // RESOURCE_EXHAUSTED
    case 500:
      return 13;  // INTERNAL
    case 503:
      return 14;  // UNAVAILABLE
    default:
      return 2;  // UNKNOWN
  }
}

bool IsTokenChar(unsigned char c) {
  if (absl::ascii_isalnum(c)) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool IsValidFieldName(std::string_view name) {
  if (name.empty() || name.size() > kMaxResponseFieldName) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return IsTokenChar(static_cast<unsigned char>(c)); });
}

bool IsValidFieldValue(std::string_view value) {
  if (value.size() > kMaxResponseFieldValue) return false;
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// Clamped so that `steady_clock::now() + d` cannot overflow.
std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  d = std::clamp(d, absl::ZeroDuration(), absl::Hours(24 * 365));
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

std::string FormatEndpoint(const tcp::endpoint& endpoint) {
  const net::ip::address& address = endpoint.address();
  if (address.is_v6()) return absl::StrCat("[", address.to_string(), "]:", endpoint.port());
  return absl::StrCat(address.to_string(), ":", endpoint.port());
}

absl::StatusOr<tcp::endpoint> ParseListenAddress(std::string_view listen) {
  auto invalid = [listen](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid listen address \"", ToAbsl(listen), "\": ", ToAbsl(why)));
  };
  std::string_view host;
  std::string_view port_text;
  bool bracketed = false;
  if (!listen.empty() && listen.front() == '[') {
    const size_t close = listen.find(']');
    if (close == std::string_view::npos) return invalid("missing ']'");
    host = listen.substr(1, close - 1);
    if (close + 1 >= listen.size() || listen[close + 1] != ':') {
      return invalid("expected \"[host]:port\"");
    }
    port_text = listen.substr(close + 2);
    bracketed = true;
  } else {
    const size_t colon = listen.rfind(':');
    if (colon == std::string_view::npos) return invalid("expected \"host:port\"");
    host = listen.substr(0, colon);
    port_text = listen.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return invalid("IPv6 hosts must be bracketed, e.g. \"[::1]:8080\"");
    }
  }
  if (host.empty()) return invalid("empty host");
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(),
                   [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); })) {
    return invalid("port must be a number in 0..65535");
  }
  int port = 0;
  for (char c : port_text) port = port * 10 + (c - '0');
  if (port > 65535) return invalid("port must be a number in 0..65535");

  net::ip::address address;
  if (!bracketed && absl::EqualsIgnoreCase(ToAbsl(host), "localhost")) {
    address = net::ip::address_v4::loopback();
  } else {
    beast::error_code ec;
    const std::string host_string(host);
    if (bracketed) {
      address = net::ip::make_address_v6(host_string, ec);
    } else {
      address = net::ip::make_address_v4(host_string, ec);
    }
    if (ec) return invalid(absl::StrCat("host is not an IP address: ", ec.message()));
  }
  return tcp::endpoint(address, static_cast<unsigned short>(port));
}

bool IsHttpParseError(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category();
}

}  // namespace

std::optional<std::string_view> Request::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, ToAbsl(name))) return std::string_view(value);
  }
  return std::nullopt;
}

Response DefaultErrorResponse(int http_status, std::string_view message) {
  Response response;
  response.status = http_status;
  response.content_type = "application/json";
  response.body = absl::StrCat("{\"code\":", GrpcCodeForHttpStatus(http_status), ",\"message\":\"",
                               JsonEscape(message), "\",\"details\":[]}");
  return response;
}

// A TLS 1.2+ server context from checked PEM files (common/tls.h); with a CA, client
// certificates are requested and verified, and required when `require_client_cert`.
absl::StatusOr<net::ssl::context> MakeSslContext(const tls::TlsFiles& files,
                                                 std::string_view what) {
  absl::StatusOr<tls::TlsPem> pem = tls::LoadTlsPem(files, what, /*for_listener=*/true);
  if (!pem.ok()) return pem.status();
  net::ssl::context context(net::ssl::context::tls_server);
  context.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                      net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                      net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use);
  beast::error_code ec;
  context.use_certificate_chain(net::buffer(pem->cert_chain), ec);
  if (!ec) context.use_private_key(net::buffer(pem->private_key), net::ssl::context::pem, ec);
  if (!ec && !pem->root_certs.empty()) {
    context.add_certificate_authority(net::buffer(pem->root_certs), ec);
    if (!ec) {
      context.set_verify_mode(
          net::ssl::verify_peer |
              (files.require_client_cert ? net::ssl::verify_fail_if_no_peer_cert : 0),
          ec);
    }
  }
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(what), ": the TLS library refused the files: ", ec.message()));
  }
  return context;
}

namespace internal {

// A connection as the core sees it; Session<Stream> is the plaintext or TLS implementation.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual const net::any_io_executor& executor() const = 0;
  virtual void Start() = 0;
  virtual void OnShutdown() = 0;
  virtual void ForceClose() = 0;
};

// State shared by the Server object, the acceptor and every session. Sessions (and through them
// pending `Respond`s) hold it by shared_ptr, so the io_context outlives every socket.
class ServerCore : public std::enable_shared_from_this<ServerCore> {
 public:
  ServerCore(ServerOptions options_in, Handler handler_in)
      : options(std::move(options_in)),
        handler(std::move(handler_in)),
        ioc(options.threads),
        acceptor(net::make_strand(ioc)),
        accept_backoff(acceptor.get_executor()) {}

  // Runs on the acceptor's strand (or before the I/O threads start).
  void Accept();

  // Posts `fn` to a session strand unless the server has stopped: after that nothing runs the
  // io_context, so a queued `fn` would never run and the session it holds would keep the core
  // (which owns the queue) alive forever.
  template <typename F>
  bool PostIfRunning(const net::any_io_executor& executor, F&& fn) {
    std::lock_guard<std::mutex> lock(mu);
    if (!posts_open) return false;
    net::post(executor, std::forward<F>(fn));
    return true;
  }

  Response ErrorResponse(int http_status, std::string_view message) const;

  void OnSessionClosed(uint64_t id);

  const ServerOptions options;
  const Handler handler;
  net::io_context ioc;  // declared before every I/O object so that it is destroyed last
  tcp::acceptor acceptor;
  net::steady_timer accept_backoff;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::thread> threads;  // touched only by Start and Shutdown

  std::atomic<bool> shutting_down{false};
  std::atomic<int> in_flight{0};

  std::mutex mu;
  std::condition_variable connections_closed;
  bool posts_open = true;                                             // guarded by mu
  size_t open_connections = 0;                                        // guarded by mu
  uint64_t next_session_id = 0;                                       // guarded by mu
  std::unordered_map<uint64_t, std::weak_ptr<SessionBase>> sessions;  // guarded by mu
  // Set before the first accept when the server speaks TLS; used read-only afterwards.
  std::optional<net::ssl::context> ssl;

 private:
  void OnAccept(const beast::error_code& ec, tcp::socket socket);
};

// One connection over `Stream` (beast::tcp_stream, or beast::ssl_stream over one). Every member
// function except PostResponse runs on the connection's strand. It serves one request at a time:
// (TLS handshake ->) idle -> reading -> handling -> writing -> idle (or closed).
template <typename Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <typename... StreamArgs>
  Session(std::shared_ptr<ServerCore> core, uint64_t id, std::string remote_address,
          StreamArgs&&... stream_args)
      : core_(std::move(core)),
        id_(id),
        remote_address_(std::move(remote_address)),
        stream_(std::forward<StreamArgs>(stream_args)...),
        executor_(stream_.get_executor()) {}

  const net::any_io_executor& executor() const override { return executor_; }

  // The TLS handshake must complete within the read timeout, like a request.
  void Start() override {
    if constexpr (kTls) {
      SetTimeout(core_->options.read_timeout);
      stream_.async_handshake(net::ssl::stream_base::server,
                              [self = this->shared_from_this()](const beast::error_code& ec) {
                                if (self->state_ == State::kClosed) return;
                                if (ec) return self->Close();
                                self->ReadNext();
                              });
    } else {
      ReadNext();
    }
  }

  // Server shutdown began: connections waiting for a request close now; the others finish the
  // exchange in progress and close after it. An idle connection with bytes already received has
  // started a request: it is read and answered 503 rather than reset.
  void OnShutdown() override {
    if (state_ == State::kLingering) return Close();
    if (state_ == State::kIdle) {
      beast::error_code ec;
      if (Lowest().socket().available(ec) == 0 || ec) Close();
    }
  }

  void ForceClose() override { Close(); }

  // Any thread. `response` == nullopt means the Respond was dropped without a call.
  void PostResponse(uint64_t seq, std::optional<Response> response) {
    core_->PostIfRunning(executor_, [self = this->shared_from_this(), seq,
                                     response = std::move(response)]() mutable {
      self->DeliverResponse(seq, std::move(response));
    });
  }

 private:
  enum class State { kIdle, kReading, kHandling, kWriting, kLingering, kClosed };

  // The TCP layer: timeouts, socket shutdown and close. Over TLS, closing skips the close_notify
  // alert: every response is delimited by Content-Length, so a client cannot mistake a cut for the
  // end of a body, and a peer that stopped reading cannot hold the connection open.
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void SetTimeout(absl::Duration timeout) {
    if (timeout == absl::InfiniteDuration()) {
      Lowest().expires_never();
    } else {
      Lowest().expires_after(ToChrono(timeout));
    }
  }

  // Waits (idle timeout) for the first byte of the next request unless pipelined bytes are
  // already buffered.
  void ReadNext() {
    if (core_->shutting_down) return GracefulClose();
    if (buffer_.size() > 0) return ReadRequest();
    state_ = State::kIdle;
    SetTimeout(core_->options.idle_timeout);
    stream_.async_read_some(
        buffer_.prepare(kReadChunkBytes),
        [self = this->shared_from_this()](const beast::error_code& ec, size_t n) {
          self->OnIdleRead(ec, n);
        });
  }

  void OnIdleRead(const beast::error_code& ec, size_t n) {
    if (state_ == State::kClosed) return;
    if (ec || n == 0) return Close();
    buffer_.commit(n);
    ReadRequest();
  }

  // The read timeout covers the whole request from here on.
  void ReadRequest() {
    state_ = State::kReading;
    SetTimeout(core_->options.read_timeout);
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(
        std::min<size_t>(core_->options.max_header_bytes, std::numeric_limits<uint32_t>::max())));
    parser_->body_limit(static_cast<uint64_t>(core_->options.max_body_bytes));
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](const beast::error_code& ec,
                                                               size_t) { self->OnHeader(ec); });
  }

  void OnHeader(const beast::error_code& ec) {
    if (state_ == State::kClosed) return;
    if (ec) return OnReadError(ec);
    const auto& header = parser_->get();
    if (header.version() != 10 && header.version() != 11) {
      return FailRequest(400, "unsupported HTTP version", /*linger=*/true);
    }
    if (core_->shutting_down) {
      return FailRequest(503, "server is shutting down", /*linger=*/true);
    }
    if (parser_->is_done()) return Dispatch();
    // A client that sent "Expect: 100-continue" may wait for our go-ahead before sending the body
    // (curl waits 1 s). The size limit was already checked against Content-Length. Skipped when
    // body bytes have already arrived.
    const auto expect = header[bhttp::field::expect];
    if (header.version() == 11 && beast::iequals(expect, "100-continue") && buffer_.size() == 0) {
      net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = this->shared_from_this()](const beast::error_code& ec, size_t) {
                         if (self->state_ == State::kClosed) return;
                         if (ec) return self->Close();
                         self->ReadBody();
                       });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](const beast::error_code& ec, size_t) {
                        self->OnBody(ec);
                      });
  }

  void OnBody(const beast::error_code& ec) {
    if (state_ == State::kClosed) return;
    if (ec) return OnReadError(ec);
    if (core_->shutting_down) {
      return FailRequest(503, "server is shutting down", /*linger=*/false);
    }
    Dispatch();
  }

  void OnReadError(const beast::error_code& ec) {
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
      return FailRequest(431, "request header fields too large", /*linger=*/true);
    }
    if (ec == bhttp::error::body_limit) {
      return FailRequest(413, "request body too large", /*linger=*/true);
    }
    if (IsHttpParseError(ec) && ec != bhttp::error::end_of_stream &&
        ec != bhttp::error::partial_message) {
      return FailRequest(400, absl::StrCat("malformed HTTP request: ", ec.message()),
                         /*linger=*/true);
    }
    // Timeout (the whole request did not arrive in time), peer gone, or closed by us: there is
    // nobody worth answering.
    Close();
  }

  void Dispatch() {
    bhttp::request<bhttp::string_body> message = parser_->release();
    parser_.reset();
    keep_alive_ = message.keep_alive();
    version_ = message.version();

    Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    const size_t question = request.target.find('?');
    request.path = request.target.substr(0, question);
    if (question != std::string::npos) request.query = request.target.substr(question + 1);
    for (const auto& field : message) {
      request.headers.emplace_back(absl::AsciiStrToLower(ToAbsl(field.name_string())),
                                   std::string(field.value()));
    }
    request.body = std::move(message.body());
    request.remote_address = remote_address_;
    request.version = version_;

    state_ = State::kHandling;
    ++seq_;
    in_flight_counted_ = true;
    ++core_->in_flight;
    // No timeout while the handler works; the write timeout starts with the response.
    Lowest().expires_never();
    try {
      core_->handler(std::move(request), Respond(Responder(this->shared_from_this(), seq_)));
    } catch (...) {
      // A throwing handler must not take down an I/O thread. If `respond` was destroyed by the
      // unwinding it has already queued a 500.
    }
  }

  void DeliverResponse(uint64_t seq, std::optional<Response> response) {
    if (state_ != State::kHandling || seq != seq_) return;  // connection gone meanwhile
    Response out = response.has_value()
                       ? *std::move(response)
                       : core_->ErrorResponse(500, "the request handler did not respond");
    if (out.status < 200 || out.status > 599) {
      out = core_->ErrorResponse(500, "the request handler returned an invalid HTTP status");
    }
    Write(std::move(out), keep_alive_ && !core_->shutting_down, /*linger=*/false);
  }

  // Answers an error detected by the core itself; the connection is closed afterwards.
  void FailRequest(int status, std::string_view message, bool linger) {
    version_ = 11;
    Write(core_->ErrorResponse(status, message), /*keep_alive=*/false, linger);
  }

  void Write(Response response, bool keep_alive, bool linger) {
    keep_alive_ = keep_alive;
    linger_ = linger;
    response_ = std::make_unique<bhttp::response<bhttp::string_body>>();
    auto& res = *response_;
    res.version(version_);
    res.result(static_cast<unsigned>(response.status));
    if (!response.content_type.empty() && IsValidFieldValue(response.content_type)) {
      res.set(bhttp::field::content_type, response.content_type);
    }
    for (const auto& [name, value] : response.headers) {
      if (!IsValidFieldName(name) || !IsValidFieldValue(value)) continue;
      if (absl::EqualsIgnoreCase(name, "content-length") ||
          absl::EqualsIgnoreCase(name, "transfer-encoding") ||
          absl::EqualsIgnoreCase(name, "connection")) {
        continue;
      }
      if (absl::EqualsIgnoreCase(name, "content-type")) {
        res.set(bhttp::field::content_type, value);
      } else {
        res.insert(name, value);
      }
    }
    res.set(bhttp::field::connection, keep_alive ? "keep-alive" : "close");
    if (response.status != 204 && response.status != 304) {
      res.body() = std::move(response.body);
      res.content_length(res.body().size());
    }

    state_ = State::kWriting;
    SetTimeout(core_->options.write_timeout);
    bhttp::async_write(stream_, res,
                       [self = this->shared_from_this()](const beast::error_code& ec, size_t) {
                         self->OnWrite(ec);
                       });
  }

  void OnWrite(const beast::error_code& ec) {
    if (state_ == State::kClosed) return;
    ReleaseInFlight();
    response_.reset();
    if (ec) return Close();
    if (linger_ && !core_->shutting_down) return Linger();
    if (!keep_alive_ || core_->shutting_down) return GracefulClose();
    ReadNext();
  }

  void Linger() {
    state_ = State::kLingering;
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    buffer_.consume(buffer_.size());
    SetTimeout(std::min(core_->options.read_timeout, kMaxLinger));
    LingerRead();
  }

  void LingerRead() {
    // Reads into the buffer's spare capacity without committing: the bytes are discarded.
    stream_.async_read_some(
        buffer_.prepare(kReadChunkBytes),
        [self = this->shared_from_this()](const beast::error_code& ec, size_t n) {
          if (self->state_ == State::kClosed) return;
          self->lingered_bytes_ += n;
          if (ec || n == 0 || self->lingered_bytes_ >= kMaxLingerBytes) {
            return self->Close();
          }
          self->LingerRead();
        });
  }

  void GracefulClose() {
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Close();
  }

  // Idempotent. Pending operations complete with operation_aborted and find kClosed; the parser,
  // buffer and response they reference stay alive until the session is destroyed.
  void Close() {
    if (state_ == State::kClosed) return;
    ReleaseInFlight();
    state_ = State::kClosed;
    Lowest().close();
    core_->OnSessionClosed(id_);
  }

  void ReleaseInFlight() {
    if (!in_flight_counted_) return;
    in_flight_counted_ = false;
    --core_->in_flight;
  }

  // The callable behind each Respond: delivers once, or a 500 when destroyed undelivered.
  class Responder {
   public:
    Responder(std::shared_ptr<Session> session, uint64_t seq)
        : session_(std::move(session)), seq_(seq) {}
    Responder(Responder&&) = default;
    Responder& operator=(Responder&&) = delete;
    ~Responder() {
      if (session_ != nullptr) Deliver(std::nullopt);
    }

    void operator()(Response response) && {
      if (session_ != nullptr) Deliver(std::move(response));
    }

   private:
    void Deliver(std::optional<Response> response) {
      std::shared_ptr<Session> session = std::move(session_);
      session->PostResponse(seq_, std::move(response));
    }

    std::shared_ptr<Session> session_;  // null once delivered or moved from
    uint64_t seq_;
  };

  const std::shared_ptr<ServerCore> core_;
  const uint64_t id_;
  const std::string remote_address_;
  Stream stream_;
  const net::any_io_executor executor_;  // the strand; copied once so any thread may read it
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::unique_ptr<bhttp::response<bhttp::string_body>> response_;
  State state_ = State::kIdle;
  uint64_t seq_ = 0;  // identifies the request a Respond belongs to
  bool keep_alive_ = false;
  bool linger_ = false;
  bool in_flight_counted_ = false;
  unsigned version_ = 11;
  size_t lingered_bytes_ = 0;
};

void ServerCore::Accept() {
  acceptor.async_accept(
      net::make_strand(ioc),
      [self = this->shared_from_this()](const beast::error_code& ec, tcp::socket socket) {
        self->OnAccept(ec, std::move(socket));
      });
}

void ServerCore::OnAccept(const beast::error_code& ec, tcp::socket socket) {
  beast::error_code ignored;
  if (ec == net::error::operation_aborted || shutting_down || !acceptor.is_open()) {
    socket.close(ignored);
    return;
  }
  if (ec) {
    if (ec == net::error::connection_aborted) return Accept();
    accept_backoff.expires_after(kAcceptBackoff);
    accept_backoff.async_wait([self = this->shared_from_this()](const beast::error_code& wait_ec) {
      if (!wait_ec && !self->shutting_down) self->Accept();
    });
    return;
  }
  socket.set_option(tcp::no_delay(true), ignored);
  const tcp::endpoint remote = socket.remote_endpoint(ignored);
  std::shared_ptr<SessionBase> session;
  {
    std::lock_guard<std::mutex> lock(mu);
    // Checked under `mu` so that Shutdown's snapshot of `sessions` cannot miss this one.
    if (shutting_down) {
      socket.close(ignored);
      return;
    }
    if (open_connections < options.max_connections) {
      const uint64_t id = next_session_id++;
      if (ssl.has_value()) {
        session = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
            shared_from_this(), id, FormatEndpoint(remote), beast::tcp_stream(std::move(socket)),
            *ssl);
      } else {
        session = std::make_shared<Session<beast::tcp_stream>>(
            shared_from_this(), id, FormatEndpoint(remote), std::move(socket));
      }
      sessions.emplace(id, session);
      ++open_connections;
    }
  }
  if (session != nullptr) {
    net::post(session->executor(), [session] { session->Start(); });
  } else {
    socket.close(ignored);
  }
  Accept();
}

Response ServerCore::ErrorResponse(int http_status, std::string_view message) const {
  Response response;
  bool built = false;
  if (options.error_response) {
    try {
      response = options.error_response(http_status, message);
      built = true;
    } catch (...) {
      // Fall back to the default body rather than lose the answer.
    }
  }
  if (!built) response = DefaultErrorResponse(http_status, message);
  response.status = http_status;
  return response;
}

void ServerCore::OnSessionClosed(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu);
  if (sessions.erase(id) > 0) {
    --open_connections;
    connections_closed.notify_all();
  }
}

}  // namespace internal

Server::Server(std::shared_ptr<internal::ServerCore> core, int port, std::string address)
    : core_(std::move(core)), port_(port), address_(std::move(address)) {}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

int Server::in_flight() const { return core_->in_flight.load(); }

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options, Handler handler) {
  if (!handler) return absl::InvalidArgumentError("HTTP server: handler is empty");
  if (options.threads < 1) return absl::InvalidArgumentError("HTTP server: threads must be >= 1");
  if (options.max_connections < 1) {
    return absl::InvalidArgumentError("HTTP server: max_connections must be >= 1");
  }
  if (options.read_timeout <= absl::ZeroDuration() ||
      options.idle_timeout <= absl::ZeroDuration() ||
      options.write_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("HTTP server: timeouts must be positive");
  }
  absl::StatusOr<tcp::endpoint> endpoint = ParseListenAddress(options.listen);
  if (!endpoint.ok()) return endpoint.status();

  std::optional<net::ssl::context> ssl;
  if (options.tls.has_value()) {
    absl::StatusOr<net::ssl::context> context = MakeSslContext(*options.tls, options.tls_name);
    if (!context.ok()) return context.status();
    ssl.emplace(*std::move(context));
  }

  const std::string listen = options.listen;
  auto core = std::make_shared<internal::ServerCore>(std::move(options), std::move(handler));
  core->ssl = std::move(ssl);
  auto unavailable = [&listen](std::string_view step, const beast::error_code& ec) {
    return absl::UnavailableError(
        absl::StrCat("HTTP server: cannot ", ToAbsl(step), " ", listen, ": ", ec.message()));
  };
  beast::error_code ec;
  core->acceptor.open(endpoint->protocol(), ec);
  if (ec) return unavailable("open a socket for", ec);
  core->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return unavailable("set SO_REUSEADDR on", ec);
  core->acceptor.bind(*endpoint, ec);
  if (ec) return unavailable("bind", ec);
  core->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return unavailable("listen on", ec);
  const tcp::endpoint bound = core->acceptor.local_endpoint(ec);
  if (ec) return unavailable("read the bound address of", ec);

  core->work.emplace(core->ioc.get_executor());
  core->Accept();
  std::unique_ptr<Server> server(new Server(core, bound.port(), FormatEndpoint(bound)));
  try {
    for (int i = 0; i < core->options.threads; ++i) {
      core->threads.emplace_back([core] { core->ioc.run(); });
    }
  } catch (const std::system_error& e) {
    server->Shutdown(absl::ZeroDuration());  // joins the threads already started
    return absl::ResourceExhaustedError(
        absl::StrCat("HTTP server: cannot start I/O threads: ", e.what()));
  }
  return server;
}

void Server::Shutdown(absl::Duration grace) {
  internal::ServerCore& core = *core_;
  // `threads` is not modified after Start, so reading it here is safe.
  const std::thread::id self = std::this_thread::get_id();
  const bool on_io_thread =
      std::any_of(core.threads.begin(), core.threads.end(),
                  [self](const std::thread& t) { return t.get_id() == self; });
  // An I/O thread must not wait for a shutdown in progress: that shutdown joins it.
  if (shutdown_started_.exchange(true) && on_io_thread) return;

  std::lock_guard<std::mutex> once(shutdown_mu_);
  if (stopped_) return;
  stopped_ = true;

  auto snapshot = [&core] {
    std::vector<std::shared_ptr<internal::SessionBase>> live;
    for (const auto& [id, weak] : core.sessions) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
    return live;
  };

  std::vector<std::shared_ptr<internal::SessionBase>> live;
  {
    std::lock_guard<std::mutex> lock(core.mu);
    core.shutting_down = true;
    live = snapshot();
  }
  net::post(core.acceptor.get_executor(), [core = core_] {
    beast::error_code ignored;
    core->acceptor.close(ignored);
  });
  for (auto& session : live) {
    net::post(session->executor(), [session] { session->OnShutdown(); });
  }
  live.clear();

  {
    std::unique_lock<std::mutex> lock(core.mu);
    if (!on_io_thread) {
      core.connections_closed.wait_for(lock, ToChrono(grace),
                                       [&core] { return core.open_connections == 0; });
    }
    live = snapshot();
  }
  for (auto& session : live) {
    net::post(session->executor(), [session] { session->ForceClose(); });
  }
  live.clear();

  {
    std::lock_guard<std::mutex> lock(core.mu);
    core.posts_open = false;
  }
  // With the acceptor and every socket closed, run() returns once the queued handlers (including
  // responses posted before posts_open was cleared) have run.
  core.work.reset();
  // From an I/O thread nothing is joined: the closes posted above may be queued behind the
  // handler that called us, so the other threads cannot finish before it returns. Each thread
  // holds a reference to the core and exits when run() returns.
  for (std::thread& thread : core.threads) {
    if (on_io_thread) {
      thread.detach();
    } else if (thread.joinable()) {
      thread.join();
    }
  }
}

}  // namespace onsync::http
