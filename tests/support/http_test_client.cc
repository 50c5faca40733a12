#include "tests/support/http_test_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/string_view.h"

namespace onsync::testing {
namespace {

std::string ErrnoText(int err) { return std::string(std::strerror(err)); }

// Milliseconds left until `deadline`, for poll(2); 0 once passed.
int PollTimeoutMs(absl::Time deadline) {
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), 24 * 3600 * 1000));
}

// Waits for `events` on `fd`. OK when ready; DEADLINE_EXCEEDED when `deadline` passes.
absl::Status WaitFor(int fd, short events, absl::Time deadline) {
  while (true) {
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, PollTimeoutMs(deadline));
    if (rc > 0) return absl::OkStatus();
    if (rc == 0) return absl::DeadlineExceededError("timed out waiting for the socket");
    if (errno != EINTR) return absl::InternalError(absl::StrCat("poll: ", ErrnoText(errno)));
  }
}

bool IsChunked(const HttpResult& result) {
  for (const auto& [name, value] : result.headers) {
    if (name == "transfer-encoding" && absl::StrContains(absl::AsciiStrToLower(value), "chunked")) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::optional<std::string> HttpResult::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, ToAbsl(name))) return value;
  }
  return std::nullopt;
}

absl::StatusOr<HttpTestConnection> HttpTestConnection::Connect(std::string host, int port,
                                                               absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string bare = host;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') {
    bare = bare.substr(1, bare.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* addresses = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(bare.c_str(), service.c_str(), &hints, &addresses); rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve ", host, ": ", ::gai_strerror(rc)));
  }
  absl::Status last = absl::UnavailableError(absl::StrCat("no address for ", host));
  for (addrinfo* ai = addresses; ai != nullptr; ai = ai->ai_next) {
    const int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = absl::UnavailableError(absl::StrCat("socket: ", ErrnoText(errno)));
      continue;
    }
    int err = 0;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        const absl::Status ready = WaitFor(fd, POLLOUT, deadline);
        if (!ready.ok()) {
          ::close(fd);
          last = ready;
          continue;
        }
        socklen_t len = sizeof(err);
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      }
    }
    if (err != 0) {
      ::close(fd);
      last = absl::UnavailableError(
          absl::StrCat("connect to ", host, ":", port, ": ", ErrnoText(err)));
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ::freeaddrinfo(addresses);
    return HttpTestConnection(fd, timeout);
  }
  ::freeaddrinfo(addresses);
  return last;
}

HttpTestConnection::HttpTestConnection(HttpTestConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      timeout_(other.timeout_),
      buffer_(std::move(other.buffer_)) {}

HttpTestConnection& HttpTestConnection::operator=(HttpTestConnection&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    timeout_ = other.timeout_;
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

HttpTestConnection::~HttpTestConnection() { Close(); }

void HttpTestConnection::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void HttpTestConnection::ShutdownWrite() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

int HttpTestConnection::local_port() const {
  if (fd_ < 0) return -1;
  sockaddr_storage address{};
  socklen_t len = sizeof(address);
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &len) != 0) return -1;
  if (address.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
}

absl::Status HttpTestConnection::SendRaw(std::string_view bytes) {
  if (fd_ < 0) return absl::FailedPreconditionError("connection is closed");
  const absl::Time deadline = absl::Now() + timeout_;
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (absl::Status s = WaitFor(fd_, POLLOUT, deadline); !s.ok()) return s;
      continue;
    }
    return absl::UnavailableError(absl::StrCat("send: ", ErrnoText(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> HttpTestConnection::ReadMore(absl::Time deadline) {
  if (fd_ < 0) return absl::FailedPreconditionError("connection is closed");
  char chunk[16384];
  while (true) {
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n >= 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      return static_cast<size_t>(n);
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (absl::Status s = WaitFor(fd_, POLLIN, deadline); !s.ok()) return s;
      continue;
    }
    if (errno == ECONNRESET) return absl::UnavailableError("connection reset by peer");
    return absl::UnavailableError(absl::StrCat("recv: ", ErrnoText(errno)));
  }
}

absl::Status HttpTestConnection::Fill(size_t n, absl::Time deadline) {
  while (buffer_.size() < n) {
    absl::StatusOr<size_t> got = ReadMore(deadline);
    if (!got.ok()) return got.status();
    if (*got == 0) return absl::UnavailableError("connection closed before the end of the body");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> HttpTestConnection::ReadLine(absl::Time deadline) {
  size_t end;
  while ((end = buffer_.find("\r\n")) == std::string::npos) {
    absl::StatusOr<size_t> got = ReadMore(deadline);
    if (!got.ok()) return got.status();
    if (*got == 0) return absl::UnavailableError("connection closed before the end of the body");
  }
  std::string line = buffer_.substr(0, end);
  buffer_.erase(0, end + 2);
  return line;
}

absl::StatusOr<HttpResult> HttpTestConnection::ReadResponse(bool head_request) {
  const absl::Time deadline = absl::Now() + timeout_;
  size_t head_end;
  while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    absl::StatusOr<size_t> got = ReadMore(deadline);
    if (!got.ok()) return got.status();
    if (*got == 0) {
      return absl::UnavailableError(buffer_.empty() ? "connection closed"
                                                    : "connection closed inside the response head");
    }
  }
  const std::string head = buffer_.substr(0, head_end);
  buffer_.erase(0, head_end + 4);

  std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
  HttpResult result;
  // Status line: HTTP/1.x SP 3DIGIT [SP reason]
  const absl::string_view status_line = lines[0];
  if (!absl::StartsWith(status_line, "HTTP/1.") || status_line.size() < 12 ||
      status_line[8] != ' ' || !absl::SimpleAtoi(status_line.substr(9, 3), &result.status)) {
    return absl::InternalError(absl::StrCat("bad status line: \"", status_line, "\""));
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) {
      return absl::InternalError(absl::StrCat("bad header line: \"", lines[i], "\""));
    }
    result.headers.emplace_back(
        absl::AsciiStrToLower(lines[i].substr(0, colon)),
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1))));
  }

  if (head_request || result.status < 200 || result.status == 204 || result.status == 304) {
    return result;
  }
  if (IsChunked(result)) {
    while (true) {
      absl::StatusOr<std::string> size_line = ReadLine(deadline);
      if (!size_line.ok()) return size_line.status();
      absl::string_view size_text = *size_line;
      size_text = size_text.substr(0, size_text.find(';'));
      size_text = absl::StripAsciiWhitespace(size_text);
      uint64_t size = 0;
      if (!absl::SimpleHexAtoi(size_text, &size)) {
        return absl::InternalError(absl::StrCat("bad chunk size: \"", *size_line, "\""));
      }
      if (size == 0) break;
      if (absl::Status s = Fill(size + 2, deadline); !s.ok()) return s;
      result.body.append(buffer_, 0, size);
      buffer_.erase(0, size + 2);
    }
    while (true) {  // trailers, up to the empty line
      absl::StatusOr<std::string> trailer = ReadLine(deadline);
      if (!trailer.ok()) return trailer.status();
      if (trailer->empty()) break;
    }
    return result;
  }
  if (std::optional<std::string> length = result.Header("content-length"); length.has_value()) {
    uint64_t size = 0;
    if (!absl::SimpleAtoi(*length, &size)) {
      return absl::InternalError(absl::StrCat("bad Content-Length: \"", *length, "\""));
    }
    if (absl::Status s = Fill(size, deadline); !s.ok()) return s;
    result.body = buffer_.substr(0, size);
    buffer_.erase(0, size);
    return result;
  }
  while (true) {  // delimited by the end of the connection
    absl::StatusOr<size_t> got = ReadMore(deadline);
    if (!got.ok()) return got.status();
    if (*got == 0) break;
  }
  result.body = std::move(buffer_);
  buffer_.clear();
  return result;
}

bool HttpTestConnection::IsClosedByPeer(absl::Duration wait) {
  if (fd_ < 0) return true;
  const absl::Time deadline = absl::Now() + wait;
  while (true) {
    absl::StatusOr<size_t> got = ReadMore(deadline);
    if (!got.ok()) return absl::IsUnavailable(got.status());  // reset counts as closed
    if (*got == 0) return true;
  }
}

absl::StatusOr<HttpResult> HttpRequest(std::string_view host, int port, std::string_view method,
                                       std::string_view target, std::string_view body,
                                       std::vector<std::pair<std::string, std::string>> headers) {
  absl::StatusOr<HttpTestConnection> connection =
      HttpTestConnection::Connect(std::string(host), port);
  if (!connection.ok()) return connection.status();

  auto has = [&headers](absl::string_view name) {
    return std::any_of(headers.begin(), headers.end(),
                       [name](const auto& h) { return absl::EqualsIgnoreCase(h.first, name); });
  };
  std::string request = absl::StrCat(ToAbsl(method), " ", ToAbsl(target), " HTTP/1.1\r\n");
  if (!has("host")) {
    const bool ipv6 = host.find(':') != std::string_view::npos && host.front() != '[';
    absl::StrAppend(&request, "Host: ", ipv6 ? "[" : "", ToAbsl(host), ipv6 ? "]" : "", ":", port,
                    "\r\n");
  }
  for (const auto& [name, value] : headers) absl::StrAppend(&request, name, ": ", value, "\r\n");
  if (!has("content-length") && !has("transfer-encoding") &&
      (!body.empty() || method == "POST" || method == "PUT")) {
    absl::StrAppend(&request, "Content-Length: ", body.size(), "\r\n");
  }
  if (!has("connection")) absl::StrAppend(&request, "Connection: close\r\n");
  absl::StrAppend(&request, "\r\n", ToAbsl(body));
  if (absl::Status s = connection->SendRaw(request); !s.ok()) return s;

  while (true) {
    absl::StatusOr<HttpResult> result = connection->ReadResponse(method == "HEAD");
    if (!result.ok() || result->status >= 200) return result;
  }
}

}  // namespace onsync::testing
