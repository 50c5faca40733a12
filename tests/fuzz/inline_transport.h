// The upstream seam of the client fuzzers: an HttpTransport (and Scheduler) that answers every
// request at once, on the calling thread, with a response built from the fuzz input, so that one
// fuzz iteration runs a whole client call synchronously and deterministically.
//
// The first `scripted` requests get the fuzzed response, later ones `fallback` (an empty page),
// so that paging always ends; a call that sends more than kMaxRequests requests is a bug (a
// paging loop) and aborts.
#ifndef ONSYNC_TESTS_FUZZ_INLINE_TRANSPORT_H_
#define ONSYNC_TESTS_FUZZ_INLINE_TRANSPORT_H_

#include <cctype>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "clients/http/http_transport.h"
#include "clients/http/scheduler.h"
#include "tests/fuzz/fuzz_check.h"

namespace onsync::fuzz {

// `input` as an HTTP response: when it starts with a digit, a head `<status>\n<Name>: <value>\n`
// ... `\n` then the body; otherwise the whole input is a 200 body without headers.
inline clients::HttpResponse ParseFuzzResponse(std::string_view input) {
  clients::HttpResponse response;
  response.status = 200;
  if (input.empty() || !absl::ascii_isdigit(static_cast<unsigned char>(input.front()))) {
    response.body = std::string(input);
    return response;
  }
  const size_t head_end = input.find("\n\n");
  std::string_view head = input.substr(0, head_end);
  response.body =
      head_end == std::string_view::npos ? std::string() : std::string(input.substr(head_end + 2));
  bool first = true;
  for (absl::string_view line : absl::StrSplit(absl::string_view(head.data(), head.size()), '\n')) {
    if (first) {
      first = false;
      int status = 0;
      if (absl::SimpleAtoi(line, &status)) response.status = status;
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    absl::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    response.headers.emplace_back(std::move(name), std::string(value));
  }
  return response;
}

class InlineTransport final : public clients::HttpTransport, public clients::Scheduler {
 public:
  static constexpr size_t kMaxRequests = 64;

  InlineTransport(clients::HttpResponse scripted, size_t scripted_count,
                  clients::HttpResponse fallback)
      : scripted_(std::move(scripted)),
        scripted_count_(scripted_count),
        fallback_(std::move(fallback)) {}

  void Send(clients::HttpRequest request, clients::HttpCallback done) override {
    requests_.push_back(std::move(request));
    Check(requests_.size() <= kMaxRequests, "one call sends a bounded number of requests");
    std::move(done)(requests_.size() <= scripted_count_ ? scripted_ : fallback_);
  }

  void RunAfter(absl::Duration delay, absl::AnyInvocable<void() &&> task) override {
    std::move(task)();
  }

  const std::vector<clients::HttpRequest>& requests() const { return requests_; }
  void Reset() { requests_.clear(); }

 private:
  const clients::HttpResponse scripted_;
  const size_t scripted_count_;
  const clients::HttpResponse fallback_;
  std::vector<clients::HttpRequest> requests_;
};

// Captures what a client callback receives and how often it is called.
template <typename T>
class Outcome {
 public:
  absl::AnyInvocable<void(T) &&> Callback() {
    return [this](T value) {
      ++calls_;
      value_.emplace(std::move(value));
    };
  }
  // The value, after checking that the callback ran exactly once (the transport is inline).
  T& Get() {
    Check(calls_ == 1, "the callback runs exactly once");
    return *value_;
  }

 private:
  int calls_ = 0;
  std::optional<T> value_;
};

}  // namespace onsync::fuzz

#endif  // ONSYNC_TESTS_FUZZ_INLINE_TRANSPORT_H_
