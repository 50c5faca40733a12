#include "clients/http/curl_transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/http/redact.h"
#include "clients/http/retry_policy.h"
#include "common/string_view.h"

namespace onsync::clients {
namespace {

// Loop wake-ups happen at least this often even when nothing is due, as a safety net.
constexpr int kMaxPollMillis = 1000;
// How often deadlines of requests queued for a connection are checked.
constexpr int kWaitingSweepMillis = 10;
// Easy handles kept for reuse (curl_easy_reset) instead of being freed.
constexpr size_t kMaxIdleEasyHandles = 256;

absl::Status InitCurlOnce() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (code != CURLE_OK) {
    return absl::InternalError(absl::StrCat("curl_global_init failed: ", curl_easy_strerror(code)));
  }
  return absl::OkStatus();
}

bool IsTokenChar(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), IsTokenChar);
}

bool IsValidHeaderValue(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool HasHeader(const HttpRequest& request, std::string_view name) {
  return std::any_of(request.headers.begin(), request.headers.end(), [&](const auto& header) {
    return absl::EqualsIgnoreCase(ToAbsl(header.first), ToAbsl(name));
  });
}

int64_t CeilMillis(absl::Duration duration) {
  return absl::ToInt64Milliseconds(absl::Ceil(duration, absl::Milliseconds(1)));
}

struct Timer {
  absl::Time due;
  uint64_t sequence;  // FIFO among equal due times
  absl::AnyInvocable<void() &&> task;
};

struct TimerLater {
  bool operator()(const Timer& a, const Timer& b) const {
    if (a.due != b.due) return a.due > b.due;
    return a.sequence > b.sequence;
  }
};

}  // namespace

struct HostSlot;

// One request, from Send to its callback. Owned by the loop once queued.
struct Transfer {
  HttpRequest request;
  HostSlot* slot = nullptr;  // set when the loop takes the transfer
  HttpCallback done;
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  HttpResponse response;
  size_t max_bytes = 0;
  size_t header_bytes = 0;
  bool too_large = false;
  // Set by CURLOPT_PREREQFUNCTION: libcurl is about to send the request on a connection. Until
  // then, nothing of the request has left the process.
  bool sending_started = false;
  char error_buffer[CURL_ERROR_SIZE] = {};
};

// Admission per upstream host (scheme://host:port): at most max_connections_per_host transfers
// of one host are in the multi handle at a time; the rest wait here, first come first served.
// libcurl would queue them too (CURLMOPT_MAX_HOST_CONNECTIONS), but its pending list is not fair:
// a woken pending transfer competes with newly added ones and can go back to the end of the
// list, so under load some requests starve (p99 latency grew to the length of the whole run).
struct HostSlot {
  std::string key;
  int active = 0;
  std::deque<std::unique_ptr<Transfer>> waiting;
};

// "scheme://host:port" of an absolute URL, lower-cased, without userinfo; the whole URL when it
// cannot be parsed (libcurl then rejects it).
std::string HostKey(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  size_t authority_end = url.find_first_of("/?#", scheme_end + 3);
  if (authority_end == std::string_view::npos) authority_end = url.size();
  std::string_view authority = url.substr(scheme_end + 3, authority_end - scheme_end - 3);
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  std::string key = absl::StrCat(ToAbsl(url.substr(0, scheme_end)), "://", ToAbsl(authority));
  absl::AsciiStrToLower(&key);
  return key;
}

class CurlTransport::Impl {
 public:
  explicit Impl(CurlTransportOptions options) : options_(std::move(options)) {}

  ~Impl() {
    Shutdown();
    {
      std::lock_guard lock(mu_);
      late_stop_ = true;
    }
    late_cv_.notify_all();
    if (late_thread_.joinable()) late_thread_.join();
    for (CURL* easy : idle_easy_) curl_easy_cleanup(easy);
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
  }

  absl::Status Start() {
    multi_ = curl_multi_init();
    if (multi_ == nullptr) return absl::InternalError("curl_multi_init failed");
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS,
                      static_cast<long>(options_.max_connections_per_host));
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS,
                      static_cast<long>(4 * options_.max_connections_per_host));
    thread_ = std::thread([this] { Run(); });
    return absl::OkStatus();
  }

  void Send(HttpRequest request, HttpCallback done) {
    auto transfer = std::make_unique<Transfer>();
    transfer->request = std::move(request);
    transfer->done = std::move(done);
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      if (state_ == State::kStopped) {
        PostLateLocked([this, transfer = std::move(transfer)]() mutable {
          absl::Status cancelled = absl::CancelledError(
              absl::StrCat("HTTP transport is shut down; ", Describe(*transfer), " not sent"));
          Complete(std::move(transfer), std::move(cancelled));
        });
        return;
      }
      incoming_.push_back(std::move(transfer));
      wake = NeedsWakeLocked();
    }
    if (wake) curl_multi_wakeup(multi_);
  }

  void RunAfter(absl::Duration delay, absl::AnyInvocable<void() &&> task) {
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      if (state_ == State::kStopped) {
        PostLateLocked(std::move(task));
        return;
      }
      incoming_timers_.push_back(Timer{absl::Now() + delay, next_sequence_++, std::move(task)});
      wake = NeedsWakeLocked();
    }
    if (wake) curl_multi_wakeup(multi_);
  }

  void Shutdown() {
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      if (state_ == State::kRunning) {
        state_ = State::kDraining;
        wake = NeedsWakeLocked();
      }
    }
    if (wake) curl_multi_wakeup(multi_);
    if (OnLoopThread()) return;  // the loop finishes the shutdown once this callback returns
    std::lock_guard join_lock(join_mu_);
    if (thread_.joinable()) thread_.join();
  }

  size_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

  bool OnLoopThread() const {
    return loop_thread_id_.load(std::memory_order_acquire) == std::this_thread::get_id();
  }

 private:
  enum class State { kRunning, kDraining, kStopped };

  // Whether the caller must call curl_multi_wakeup after unlocking: not when the loop is known
  // to be awake already, nor from the loop thread itself (it checks its queues before polling).
  bool NeedsWakeLocked() {  // requires mu_
    if (wakeup_pending_ || OnLoopThread()) return false;
    wakeup_pending_ = true;
    return true;
  }

  // --- The loop thread ---

  void Run() {
    loop_thread_id_.store(std::this_thread::get_id(), std::memory_order_release);
    std::vector<std::unique_ptr<Transfer>> incoming;
    std::vector<Timer> incoming_timers;
    while (true) {
      bool draining = false;
      {
        std::lock_guard lock(mu_);
        incoming.swap(incoming_);
        incoming_timers.swap(incoming_timers_);
        wakeup_pending_ = false;
        draining = state_ != State::kRunning;
        if (draining && incoming.empty() && incoming_timers.empty() && active_.empty() &&
            waiting_count_ == 0 && timers_.empty()) {
          state_ = State::kStopped;
          break;
        }
      }
      for (Timer& timer : incoming_timers) timers_.push(std::move(timer));
      incoming_timers.clear();

      if (draining) {
        DrainForShutdown(incoming);
        continue;  // pick up whatever the callbacks and tasks queued in turn
      }

      for (std::unique_ptr<Transfer>& transfer : incoming) Enqueue(std::move(transfer));
      incoming.clear();
      ExpireWaiting();

      int running = 0;
      curl_multi_perform(multi_, &running);
      CompleteFinishedTransfers();
      RunDueTimers();

      int wait_ms = kMaxPollMillis;
      long curl_timeout_ms = -1;
      curl_multi_timeout(multi_, &curl_timeout_ms);
      if (curl_timeout_ms >= 0) wait_ms = std::min<long>(wait_ms, curl_timeout_ms);
      // Queued requests' deadlines are checked by ExpireWaiting, at this granularity.
      if (waiting_count_ > 0) wait_ms = std::min(wait_ms, kWaitingSweepMillis);
      if (!timers_.empty()) {
        const int64_t until_due = CeilMillis(timers_.top().due - absl::Now());
        wait_ms = static_cast<int>(std::clamp<int64_t>(until_due, 0, wait_ms));
      }
      {
        std::lock_guard lock(mu_);
        if (!incoming_.empty() || !incoming_timers_.empty() || state_ != State::kRunning) {
          wait_ms = 0;
        }
      }
      if (wait_ms > 0) curl_multi_poll(multi_, nullptr, 0, wait_ms, nullptr);
    }
  }

  void DrainForShutdown(std::vector<std::unique_ptr<Transfer>>& incoming) {
    for (std::unique_ptr<Transfer>& transfer : incoming) {
      absl::Status cancelled = absl::CancelledError(
          absl::StrCat("HTTP transport is shutting down; ", transfer->request.method, " ",
                       RedactUrl(transfer->request.url), " not sent"));
      Complete(std::move(transfer), std::move(cancelled));
    }
    incoming.clear();
    for (auto& [key, slot] : hosts_) {
      while (!slot->waiting.empty()) {
        std::unique_ptr<Transfer> transfer = std::move(slot->waiting.front());
        slot->waiting.pop_front();
        --waiting_count_;
        absl::Status cancelled = absl::CancelledError(
            absl::StrCat("HTTP transport is shutting down; ", Describe(*transfer), " not sent"));
        Complete(std::move(transfer), std::move(cancelled));
      }
    }
    // Abort in-flight transfers.
    std::vector<Transfer*> active(active_.begin(), active_.end());
    active_.clear();
    for (Transfer* raw : active) {
      std::unique_ptr<Transfer> transfer(raw);
      curl_multi_remove_handle(multi_, transfer->easy);
      absl::Status cancelled = absl::CancelledError(
          absl::StrCat("HTTP transport is shutting down; ", transfer->request.method, " ",
                       RedactUrl(transfer->request.url), " aborted"));
      Complete(std::move(transfer), std::move(cancelled));
    }
    hosts_.clear();
    // Pending tasks run now, whatever their delay, so that every callback chain ends.
    while (!timers_.empty()) {
      absl::AnyInvocable<void()&&> task = std::move(const_cast<Timer&>(timers_.top()).task);
      timers_.pop();
      std::move(task)();
    }
  }

  void RunDueTimers() {
    const absl::Time now = absl::Now();
    while (!timers_.empty() && timers_.top().due <= now) {
      // priority_queue::top is const; the element is popped right after being moved from.
      absl::AnyInvocable<void()&&> task = std::move(const_cast<Timer&>(timers_.top()).task);
      timers_.pop();
      std::move(task)();
    }
  }

  CURL* TakeEasyHandle() {
    if (!idle_easy_.empty()) {
      CURL* easy = idle_easy_.back();
      idle_easy_.pop_back();
      return easy;
    }
    return curl_easy_init();
  }

  void ReleaseEasyHandle(CURL* easy) {
    if (easy == nullptr) return;
    if (idle_easy_.size() < kMaxIdleEasyHandles) {
      curl_easy_reset(easy);
      idle_easy_.push_back(easy);
    } else {
      curl_easy_cleanup(easy);
    }
  }

  std::string Describe(const Transfer& transfer) const {
    return absl::StrCat(transfer.request.method, " ", RedactUrl(transfer.request.url));
  }

  // Completes a transfer that is not (or no longer) in the multi handle: frees its libcurl
  // resources, then runs its callback.
  void Complete(std::unique_ptr<Transfer> transfer, absl::StatusOr<HttpResponse> result) {
    if (transfer->easy != nullptr) {
      ReleaseEasyHandle(transfer->easy);
      transfer->easy = nullptr;
    }
    if (transfer->header_list != nullptr) {
      curl_slist_free_all(transfer->header_list);
      transfer->header_list = nullptr;
    }
    HttpCallback done = std::move(transfer->done);
    transfer.reset();
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    std::move(done)(std::move(result));
  }

  // Configures the easy handle; an error is the caller's fault (INVALID_ARGUMENT) except for
  // allocation failures.
  absl::Status Configure(Transfer& transfer, absl::Duration time_left) {
    CURL* easy = transfer.easy;
    const HttpRequest& request = transfer.request;
    if (!IsToken(request.method)) {
      return absl::InvalidArgumentError(absl::StrCat("invalid HTTP method \"",
                                                     absl::CEscape(ToAbsl(request.method)),
                                                     "\" for ", RedactUrl(request.url)));
    }
    for (const auto& [name, value] : request.headers) {
      if (!IsToken(name) || !IsValidHeaderValue(value)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "invalid header \"", absl::CEscape(ToAbsl(name)), "\" in ", Describe(transfer),
            ": names must be tokens, values must not contain CR, LF or NUL"));
      }
      // "Name:" would make libcurl drop the header; "Name;" sends it with an empty value.
      const std::string line =
          value.empty() ? absl::StrCat(name, ";") : absl::StrCat(name, ": ", value);
      curl_slist* appended = curl_slist_append(transfer.header_list, line.c_str());
      if (appended == nullptr) return absl::ResourceExhaustedError("curl_slist_append failed");
      transfer.header_list = appended;
    }
    const bool has_body = !request.body.empty() || request.method == "POST" ||
                          request.method == "PUT" || request.method == "PATCH";
    // Send exactly the caller's headers: suppress libcurl's defaults for bodies.
    for (const char* suppressed : {"Content-Type", "Expect"}) {
      if (!has_body || HasHeader(request, suppressed)) continue;
      curl_slist* appended =
          curl_slist_append(transfer.header_list, absl::StrCat(suppressed, ":").c_str());
      if (appended == nullptr) return absl::ResourceExhaustedError("curl_slist_append failed");
      transfer.header_list = appended;
    }

    CURLcode code = curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
    if (code != CURLE_OK) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid URL ", RedactUrl(request.url), ": ", curl_easy_strerror(code)));
    }
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_PRIVATE, &transfer);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer.error_buffer);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options_.ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, options_.ca_file.c_str());
    curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str());
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");  // every encoding libcurl can decode
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::max<int64_t>(1, CeilMillis(options_.connect_timeout))));
    if (time_left != absl::InfiniteDuration()) {
      curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(std::max<int64_t>(1, CeilMillis(time_left))));
    }
    curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE,
                     static_cast<curl_off_t>(options_.max_response_bytes));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBodyData);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &OnHeaderLine);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, &OnAboutToSend);
    curl_easy_setopt(easy, CURLOPT_PREREQDATA, &transfer);
    if (transfer.header_list != nullptr) {
      curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer.header_list);
    }

    if (request.method == "GET" && request.body.empty()) {
      curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    } else if (request.method == "HEAD" && request.body.empty()) {
      curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    } else {
      if (request.method == "POST") {
        curl_easy_setopt(easy, CURLOPT_POST, 1L);
      } else {
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      }
      if (has_body) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(request.body.size()));
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
      }
    }
    return absl::OkStatus();
  }

  HostSlot* SlotFor(const std::string& url) {
    std::string key = HostKey(url);
    auto it = hosts_.find(key);
    if (it == hosts_.end()) {
      auto slot = std::make_unique<HostSlot>();
      slot->key = key;
      it = hosts_.emplace(std::move(key), std::move(slot)).first;
    }
    return it->second.get();
  }

  void Enqueue(std::unique_ptr<Transfer> transfer) {
    HostSlot* slot = SlotFor(transfer->request.url);
    transfer->slot = slot;
    slot->waiting.push_back(std::move(transfer));
    ++waiting_count_;
    Admit(slot);
  }

  // Starts waiting transfers of `slot` while it has room; forgets the slot once it is idle.
  void Admit(HostSlot* slot) {
    while (slot->active < options_.max_connections_per_host && !slot->waiting.empty()) {
      std::unique_ptr<Transfer> transfer = std::move(slot->waiting.front());
      slot->waiting.pop_front();
      --waiting_count_;
      if (Launch(std::move(transfer))) ++slot->active;
    }
    if (slot->active == 0 && slot->waiting.empty()) hosts_.erase(slot->key);
  }

  // Fails queued transfers whose deadline has passed (they were never sent).
  void ExpireWaiting() {
    if (waiting_count_ == 0) return;
    const absl::Time now = absl::Now();
    if (now - last_sweep_ < absl::Milliseconds(kWaitingSweepMillis)) return;
    last_sweep_ = now;
    for (auto& [key, slot] : hosts_) {
      std::deque<std::unique_ptr<Transfer>> keep;
      std::vector<std::unique_ptr<Transfer>> expired;
      for (std::unique_ptr<Transfer>& transfer : slot->waiting) {
        if (transfer->request.deadline <= now) {
          expired.push_back(std::move(transfer));
        } else {
          keep.push_back(std::move(transfer));
        }
      }
      slot->waiting.swap(keep);
      waiting_count_ -= expired.size();
      for (std::unique_ptr<Transfer>& transfer : expired) {
        absl::Status status = MarkNotSent(
            absl::DeadlineExceededError(absl::StrCat("deadline passed while ", Describe(*transfer),
                                                     " waited for a connection to ", slot->key)));
        Complete(std::move(transfer), std::move(status));
      }
    }
  }

  // Adds the transfer to the multi handle; on failure completes it and returns false.
  bool Launch(std::unique_ptr<Transfer> transfer) {
    const absl::Duration time_left = transfer->request.deadline - absl::Now();
    if (time_left <= absl::ZeroDuration()) {
      absl::Status status = MarkNotSent(absl::DeadlineExceededError(
          absl::StrCat("deadline passed before ", Describe(*transfer), " was sent")));
      Complete(std::move(transfer), std::move(status));
      return false;
    }
    transfer->max_bytes = options_.max_response_bytes;
    transfer->easy = TakeEasyHandle();
    if (transfer->easy == nullptr) {
      Complete(std::move(transfer), absl::ResourceExhaustedError("curl_easy_init failed"));
      return false;
    }
    if (absl::Status configured = Configure(*transfer, time_left); !configured.ok()) {
      Complete(std::move(transfer), std::move(configured));
      return false;
    }
    const CURLMcode added = curl_multi_add_handle(multi_, transfer->easy);
    if (added != CURLM_OK) {
      absl::Status status = absl::InternalError(
          absl::StrCat("cannot start ", Describe(*transfer), ": ", curl_multi_strerror(added)));
      Complete(std::move(transfer), std::move(status));
      return false;
    }
    active_.insert(transfer.release());
    return true;
  }

  void CompleteFinishedTransfers() {
    int messages_left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &messages_left)) {
      if (message->msg != CURLMSG_DONE) continue;
      CURL* easy = message->easy_handle;
      const CURLcode code = message->data.result;
      Transfer* raw = nullptr;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, &raw);
      curl_multi_remove_handle(multi_, easy);
      active_.erase(raw);
      std::unique_ptr<Transfer> transfer(raw);
      HostSlot* slot = transfer->slot;
      absl::StatusOr<HttpResponse> result = ResultOf(*transfer, code);
      Complete(std::move(transfer), std::move(result));
      --slot->active;
      Admit(slot);
    }
  }

  absl::StatusOr<HttpResponse> ResultOf(Transfer& transfer, CURLcode code) {
    if (code == CURLE_OK) {
      long status = 0;
      curl_easy_getinfo(transfer.easy, CURLINFO_RESPONSE_CODE, &status);
      transfer.response.status = static_cast<int>(status);
      return std::move(transfer.response);
    }
    const bool too_large = transfer.too_large || code == CURLE_FILESIZE_EXCEEDED;
    if (too_large) {
      return absl::ResourceExhaustedError(absl::StrCat("response to ", Describe(transfer),
                                                       " exceeds the limit of ",
                                                       options_.max_response_bytes, " bytes"));
    }
    absl::StatusCode status_code = absl::StatusCode::kUnknown;
    std::string what = curl_easy_strerror(code);
    switch (code) {
      case CURLE_OPERATION_TIMEDOUT:
        // Either the request's deadline (CURLOPT_TIMEOUT_MS) or the connect timeout fired. The
        // connect timeout is a connection failure, retryable like a refused connection.
        if (!transfer.sending_started && absl::Now() < transfer.request.deadline) {
          status_code = absl::StatusCode::kUnavailable;
          what = "connect timed out";
        } else {
          status_code = absl::StatusCode::kDeadlineExceeded;
        }
        break;
      case CURLE_COULDNT_RESOLVE_PROXY:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_CONNECT:
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR:
      case CURLE_GOT_NOTHING:
      case CURLE_PARTIAL_FILE:
      case CURLE_WEIRD_SERVER_REPLY:
      case CURLE_HTTP2:
      case CURLE_HTTP2_STREAM:
      case CURLE_HTTP3:
      case CURLE_QUIC_CONNECT_ERROR:
      case CURLE_PROXY:
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CIPHER:
      case CURLE_SSL_ISSUER_ERROR:
      case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      case CURLE_SSL_INVALIDCERTSTATUS:
      case CURLE_SSL_CLIENTCERT:
      case CURLE_SSL_SHUTDOWN_FAILED:
      case CURLE_USE_SSL_FAILED:
      case CURLE_BAD_CONTENT_ENCODING:
      case CURLE_AGAIN:
        status_code = absl::StatusCode::kUnavailable;
        break;
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CRL_BADFILE:
        status_code = absl::StatusCode::kFailedPrecondition;
        break;
      case CURLE_URL_MALFORMAT:
      case CURLE_UNSUPPORTED_PROTOCOL:
      case CURLE_BAD_FUNCTION_ARGUMENT:
        status_code = absl::StatusCode::kInvalidArgument;
        break;
      case CURLE_OUT_OF_MEMORY:
        status_code = absl::StatusCode::kResourceExhausted;
        break;
      case CURLE_ABORTED_BY_CALLBACK:
        status_code = absl::StatusCode::kCancelled;
        break;
      default:
        break;
    }
    std::string message = absl::StrCat(Describe(transfer), ": ", what);
    if (transfer.error_buffer[0] != '\0')
      absl::StrAppend(&message, " (", transfer.error_buffer, ")");
    absl::StrAppend(&message, " [curl code ", static_cast<int>(code), "]");
    absl::Status status(status_code, Redact(message));
    const bool transient = status_code == absl::StatusCode::kUnavailable ||
                           status_code == absl::StatusCode::kDeadlineExceeded;
    if (transient && !transfer.sending_started) status = MarkNotSent(std::move(status));
    return status;
  }

  static size_t OnBodyData(char* data, size_t size, size_t count, void* user) {
    auto& transfer = *static_cast<Transfer*>(user);
    const size_t bytes = size * count;
    if (transfer.response.body.size() + bytes > transfer.max_bytes) {
      transfer.too_large = true;
      return 0;  // anything but `bytes` aborts the transfer with CURLE_WRITE_ERROR
    }
    transfer.response.body.append(data, bytes);
    return bytes;
  }

  static size_t OnHeaderLine(char* data, size_t size, size_t count, void* user) {
    auto& transfer = *static_cast<Transfer*>(user);
    const size_t bytes = size * count;
    transfer.header_bytes += bytes;
    if (transfer.header_bytes > transfer.max_bytes) {
      transfer.too_large = true;
      return 0;
    }
    std::string_view line(data, bytes);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    auto& headers = transfer.response.headers;
    if (line.substr(0, 5) == "HTTP/") {
      // A new status line: an interim (1xx) or proxy CONNECT response's headers are discarded.
      headers.clear();
      transfer.header_bytes = bytes;
      return bytes;
    }
    if (line.empty()) return bytes;
    if ((line.front() == ' ' || line.front() == '\t') && !headers.empty()) {
      // Obsolete line folding: a continuation of the previous value.
      const std::string_view more = ToStd(absl::StripAsciiWhitespace(ToAbsl(line)));
      if (!more.empty()) absl::StrAppend(&headers.back().second, " ", ToAbsl(more));
      return bytes;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return bytes;  // not a header: ignored
    std::string name(line.substr(0, colon));
    absl::AsciiStrToLower(&name);
    const absl::string_view value = absl::StripAsciiWhitespace(ToAbsl(line.substr(colon + 1)));
    headers.emplace_back(std::move(name), std::string(value));
    return bytes;
  }

  static int OnAboutToSend(void* user, char* /*conn_primary_ip*/, char* /*conn_local_ip*/,
                           int /*conn_primary_port*/, int /*conn_local_port*/) {
    static_cast<Transfer*>(user)->sending_started = true;
    return CURL_PREREQFUNC_OK;
  }

  // --- After the loop has stopped: a helper thread completes late requests and tasks ---

  void PostLateLocked(absl::AnyInvocable<void() &&> work) {  // requires mu_
    late_queue_.push_back(std::move(work));
    if (!late_thread_.joinable()) late_thread_ = std::thread([this] { RunLate(); });
    late_cv_.notify_one();
  }

  void RunLate() {
    while (true) {
      absl::AnyInvocable<void() &&> work;
      {
        std::unique_lock lock(mu_);
        late_cv_.wait(lock, [this] { return !late_queue_.empty() || late_stop_; });
        if (late_queue_.empty()) return;  // stopping and nothing left
        work = std::move(late_queue_.front());
        late_queue_.pop_front();
      }
      std::move(work)();
    }
  }

  const CurlTransportOptions options_;
  CURLM* multi_ = nullptr;
  std::thread thread_;
  std::atomic<std::thread::id> loop_thread_id_{};
  std::atomic<size_t> in_flight_{0};
  // std:: rather than absl:: synchronisation: Debian's Abseil is not built with ThreadSanitizer
  // annotations, so absl::Mutex is invisible to TSan builds.
  std::mutex join_mu_;  // serialises joining the loop thread

  std::mutex mu_;  // guards the members down to late_stop_
  State state_ = State::kRunning;
  std::vector<std::unique_ptr<Transfer>> incoming_;
  std::vector<Timer> incoming_timers_;
  uint64_t next_sequence_ = 0;
  bool wakeup_pending_ = false;
  std::deque<absl::AnyInvocable<void() &&>> late_queue_;
  bool late_stop_ = false;
  std::condition_variable late_cv_;
  std::thread late_thread_;  // started under mu_, joined in the destructor

  // Loop thread only.
  std::priority_queue<Timer, std::vector<Timer>, TimerLater> timers_;
  std::unordered_set<Transfer*> active_;  // in the multi handle; owned
  std::unordered_map<std::string, std::unique_ptr<HostSlot>> hosts_;
  size_t waiting_count_ = 0;  // transfers waiting in hosts_
  absl::Time last_sweep_ = absl::InfinitePast();
  std::vector<CURL*> idle_easy_;
};

absl::StatusOr<std::unique_ptr<CurlTransport>> CurlTransport::Create(CurlTransportOptions options) {
  if (options.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("CurlTransportOptions.connect_timeout must be positive");
  }
  if (options.max_connections_per_host < 1) {
    return absl::InvalidArgumentError(
        "CurlTransportOptions.max_connections_per_host must be at least 1");
  }
  if (options.max_response_bytes == 0) {
    return absl::InvalidArgumentError("CurlTransportOptions.max_response_bytes must be positive");
  }
  if (!options.ca_file.empty() && !std::ifstream(options.ca_file).good()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CurlTransportOptions.ca_file \"", options.ca_file, "\" is not readable"));
  }
  if (absl::Status init = InitCurlOnce(); !init.ok()) return init;
  auto impl = std::make_unique<Impl>(std::move(options));
  if (absl::Status started = impl->Start(); !started.ok()) return started;
  return std::unique_ptr<CurlTransport>(new CurlTransport(std::move(impl)));
}

CurlTransport::CurlTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

CurlTransport::~CurlTransport() {
  if (impl_->OnLoopThread()) {
    // The loop thread would be destroyed while running this very callback.
    std::fputs("onsync: CurlTransport destroyed from its own callback; aborting\n", stderr);
    std::abort();
  }
  impl_->Shutdown();
}

void CurlTransport::Send(HttpRequest request, HttpCallback done) {
  impl_->Send(std::move(request), std::move(done));
}

void CurlTransport::RunAfter(absl::Duration delay, absl::AnyInvocable<void() &&> task) {
  impl_->RunAfter(delay, std::move(task));
}

void CurlTransport::Shutdown() { impl_->Shutdown(); }

size_t CurlTransport::in_flight() const { return impl_->in_flight(); }

}  // namespace onsync::clients
