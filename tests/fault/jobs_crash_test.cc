// Durable jobs end to end and under kill -9, with the real binaries: onsync-server (its SQLite job
// store in a temporary file, kept across restarts with --jobs_db and the same port) and
// onsync-gateway against the sandbox (in process), driven through the gateway's routes (the async
// outcome's 202, GET /v1/jobs/{id}, the generic JSON route) and the gRPC API (the generated stub:
// EnqueueSync, StartBatchSync, GetJob, ListJobs, WatchJob, RetryJob, CancelJob).
//
// The config is deploy/examples/business-app.yaml plus the sandbox's connections, the profile
// business_app_async (mode async, otherwise business_app) and a `jobs` section with short
// backoffs. Every wait is bounded. The crash tests draw their kill moment from a seed that they
// print (ONSYNC_CRASH_SEED=<n> repeats a run) and print the figures of the issue's closing note
// (enqueue rate, restart to first resumed job, batch records/s) on stdout.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/fault/jobs_fixture.h"

namespace onsync::testing {
namespace {

using onsync::v1::Job;
using onsync::v1::JobState;
using sandbox::FakeKind;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

constexpr char kSnFirstPage[] = "ORDERBYsys_updated_on^ORDERBYsys_id";

rapidjson::Document ParseJson(const std::string& text) {
  rapidjson::Document document;
  document.Parse(text.data(), text.size());
  EXPECT_FALSE(document.HasParseError()) << "not JSON: " << text;
  return document;
}

// `object[key]` as a string ("<missing>" when it is not one).
std::string Str(const rapidjson::Value& object, const char* key) {
  if (!object.IsObject() || !object.HasMember(key) || !object[key].IsString()) return "<missing>";
  return object[key].GetString();
}

std::vector<std::string> Keys(const rapidjson::Value& object) {
  std::vector<std::string> keys;
  if (!object.IsObject()) return keys;
  for (const auto& member : object.GetObject()) keys.emplace_back(member.name.GetString());
  return keys;
}

bool HasEnded(const Job& job) {
  return job.state() == v1::JOB_STATE_SUCCEEDED || job.state() == v1::JOB_STATE_DEAD ||
         job.state() == v1::JOB_STATE_CANCELLED;
}

// The states of `jobs` with consecutive repeats collapsed.
std::vector<std::string> StatePath(const std::vector<Job>& jobs) {
  std::vector<std::string> path;
  for (const Job& job : jobs) {
    const std::string state = StateName(job.state());
    if (path.empty() || path.back() != state) path.push_back(state);
  }
  return path;
}

// The seed of the random kill moments: ONSYNC_CRASH_SEED, else a fresh one.
uint64_t CrashSeed() {
  uint64_t seed = 0;
  if (const char* text = std::getenv("ONSYNC_CRASH_SEED");
      text != nullptr && absl::SimpleAtoi(text, &seed)) {
    return seed;
  }
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

// The Onspring write-backs (PUT /Records) of the Business Applications app, by record id.
std::map<int64_t, int> TargetWrites(sandbox::Sandbox& box) {
  std::map<int64_t, int> writes;
  for (const auto& entry : box.request_log().Entries(FakeKind::kOnspring)) {
    if (entry.route != kPutRecords) continue;
    rapidjson::Document body;
    body.Parse(entry.body.c_str());
    if (!body.IsObject() || !body.HasMember("appId") || !body["appId"].IsInt() ||
        body["appId"].GetInt() != 300) {
      continue;
    }
    const int64_t id =
        body.HasMember("recordId") && body["recordId"].IsInt64() ? body["recordId"].GetInt64() : 0;
    ++writes[id];
  }
  return writes;
}

// 1. An async profile's outcome: 202 with the job at once, the job runs and writes the record;
// duplicate deliveries (before and after it ran) return the same job and never run it again.
TEST_F(JobsE2eTest, AsyncOutcomeIs202AndDuplicateDeliveriesRunOnce) {
  ASSERT_NO_FATAL_FAILURE(StartSandbox());
  ASSERT_NO_FATAL_FAILURE(StartStack());
  const std::string event = R"({"recordId": 1001, "name": "Payroll"})";
  const absl::StatusOr<HttpResult> first = PostOutcome(kAsyncProfile, event);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->status, 202) << first->body;
  EXPECT_THAT(first->Header("content-type").value_or(""), HasSubstr("application/json"));
  const rapidjson::Document accepted = ParseJson(first->body);
  EXPECT_THAT(Keys(accepted), ElementsAre("jobId", "state"));
  const std::string id = Str(accepted, "jobId");
  EXPECT_THAT(id, MatchesRegex("j_[0-9A-Za-z]+"));
  EXPECT_EQ(Str(accepted, "state"), "QUEUED");
  EXPECT_EQ(first->Header("location").value_or("<none>"), "/v1/jobs/" + id);

  // The outcome's retry, at once: the same job.
  const absl::StatusOr<HttpResult> again = PostOutcome(kAsyncProfile, event);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->status, 202) << again->body;
  EXPECT_EQ(Str(ParseJson(again->body), "jobId"), id);

  // GET /v1/jobs/{id} until it ends (proto3 JSON, defaults printed).
  rapidjson::Document job;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (true) {
    const HttpResult got = Gateway("GET", "/v1/jobs/" + id);
    ASSERT_EQ(got.status, 200) << got.body;
    job = ParseJson(got.body);
    if (Str(job, "state") != "JOB_STATE_QUEUED" && Str(job, "state") != "JOB_STATE_RUNNING") break;
    ASSERT_LT(absl::Now(), deadline) << "still " << Str(job, "state");
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_EQ(Str(job, "state"), "JOB_STATE_SUCCEEDED") << Str(job, "lastError");
  EXPECT_EQ(Str(job, "id"), id);
  EXPECT_EQ(Str(job, "profile"), kAsyncProfile);
  EXPECT_EQ(Str(job, "kind"), "JOB_KIND_EVENT");
  EXPECT_EQ(Str(job, "mode"), "SYNC_MODE_WRITE_BACK");
  EXPECT_EQ(job["attempts"].GetInt(), 1);
  EXPECT_EQ(Str(job["trigger"], "key"), "Payroll");
  ASSERT_TRUE(job.HasMember("result") && job["result"].IsObject());
  const rapidjson::Value& result = job["result"];
  EXPECT_TRUE(result["written"].GetBool());
  EXPECT_EQ(Str(result, "targetRecordId"), "1");
  EXPECT_EQ(Str(result["values"], "shortName"), "APM0001001");
  ASSERT_TRUE(result["created"].IsArray());
  ASSERT_EQ(result["created"].Size(), 1u);
  EXPECT_EQ(Str(result["created"][0], "matchValue"), "Abel Tuter");

  // The record holds the values (Abel Tuter, missing, was created as user 4).
  const OsRecord payroll = GetRecord(300, 1);
  EXPECT_EQ(payroll.fields.at(3002), R"("APM0001001")");
  EXPECT_EQ(payroll.fields.at(3003), R"("Processes employee pay and deductions")");
  EXPECT_EQ(payroll.fields.at(3006), "[1]");
  EXPECT_EQ(payroll.fields.at(3007), "[2]");
  EXPECT_EQ(payroll.fields.at(3008), "[4]");
  EXPECT_EQ(payroll.fields.at(3010), "[1,2,3]");

  // A delivery after the job ended: still the same job, SUCCEEDED, not run again.
  const absl::StatusOr<HttpResult> late = PostOutcome(kAsyncProfile, event);
  ASSERT_TRUE(late.ok()) << late.status();
  ASSERT_EQ(late->status, 202) << late->body;
  EXPECT_EQ(Str(ParseJson(late->body), "jobId"), id);
  EXPECT_EQ(Str(ParseJson(late->body), "state"), "SUCCEEDED");
  absl::SleepFor(absl::Milliseconds(600));  // past the workers' poll interval (250 ms)

  v1::ListJobsRequest list;
  list.set_profile(kAsyncProfile);
  const absl::StatusOr<std::vector<Job>> jobs = ListAllJobs(list);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ(jobs->front().id(), id);
  EXPECT_EQ(jobs->front().attempts(), 1);
  // One ServiceNow read, one write-back (plus Abel Tuter's create).
  EXPECT_EQ(box().CallCount(FakeKind::kServiceNow, kSnAppsRoute), 1);
  EXPECT_EQ(TargetWrites(box()), (std::map<int64_t, int>{{1, 1}}));
  EXPECT_EQ(box().CallCount(FakeKind::kOnspring, kPutRecords), 2);
  // An unknown job id is 404 on the gateway.
  EXPECT_EQ(Gateway("GET", "/v1/jobs/j_00000000000000000000000000").status, 404);
}

// 2. 500 async events through the gateway; the server is killed with -9 at a random moment while
// jobs run and restarted on the same store (the gateway keeps running; the senders retry what
// was refused meanwhile). Every accepted job ends SUCCEEDED, once; no user is created twice;
// every record holds its values.
TEST_F(JobsE2eTest, KillNineWhileEventsRunLosesNoJobAndCreatesNothingTwice) {
  constexpr int kEvents = 500;
  constexpr int kSenders = 8;
  const absl::Duration kLatency = absl::Milliseconds(20);
  const uint64_t crash_seed = CrashSeed();
  std::mt19937_64 random(crash_seed);
  const int kill_after = 100 + static_cast<int>(random() % 201);
  std::cout << "[ crash    ] ONSYNC_CRASH_SEED=" << crash_seed << ": kill -9 after " << kill_after
            << " accepted events" << std::endl;

  // 500 apps whose owners are drawn from 60 users, 20 of them in Onspring: the other 40 are
  // created by racing jobs (before, during and after the kill).
  const GenSeed seed = MakeGenSeed({.apps = kEvents, .users = 60, .users_in_onspring = 20});
  ASSERT_NO_FATAL_FAILURE(StartSandbox(seed.json, kLatency));
  ASSERT_NO_FATAL_FAILURE(StartStack());

  // Each written by the one sender of that event.
  std::vector<std::string> job_ids(kEvents);
  std::vector<absl::Time> accepted_at(kEvents, absl::InfiniteFuture());
  std::mutex mu;
  std::map<std::string, int> refused;  // answer -> count (guarded by mu)
  std::atomic<int> next{0};
  std::atomic<int> accepted{0};
  std::atomic<bool> stop{false};
  const absl::Time start = absl::Now();
  const absl::Time give_up = start + absl::Seconds(90);
  std::vector<std::thread> senders;
  JoinOnExit join(senders, stop);
  for (int s = 0; s < kSenders; ++s) {
    senders.emplace_back([&] {
      for (int i = next++; i < kEvents && !stop; i = next++) {
        const GenApp& app = seed.apps[i];
        const std::string body =
            absl::StrCat(R"({"recordId": )", app.record_id, R"(, "name": )", Quoted(app.name), "}");
        while (!stop && absl::Now() < give_up) {
          const absl::StatusOr<HttpResult> result = PostOutcome(kAsyncProfile, body);
          if (result.ok() && result->status == 202) {
            rapidjson::Document json;
            json.Parse(result->body.c_str());
            job_ids[i] = Str(json, "jobId");
            accepted_at[i] = absl::Now();
            ++accepted;
            break;
          }
          {
            std::lock_guard<std::mutex> lock(mu);
            ++refused[result.ok() ? absl::StrCat("HTTP ", result->status)
                                  : absl::StatusCodeToString(result.status().code())];
          }
          absl::SleepFor(absl::Milliseconds(20));  // the outcome's retry
        }
      }
    });
  }

  while (accepted < kill_after && absl::Now() < start + absl::Seconds(60)) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  const int accepted_at_kill = accepted;
  const absl::Time kill_time = absl::Now();
  ASSERT_GE(accepted_at_kill, kill_after) << "the events were not accepted in time";
  ASSERT_NO_FATAL_FAILURE(KillServer());
  const absl::Time restart_time = absl::Now();
  ASSERT_NO_FATAL_FAILURE(RestartServer());
  const absl::Time ready_time = absl::Now();

  // The senders finish (the gateway reconnects to the new process by itself).
  for (std::thread& sender : senders) sender.join();
  const absl::Time all_accepted = absl::Now();
  ASSERT_EQ(accepted, kEvents) << "events never accepted";

  // Every job ends (bounded).
  v1::ListJobsRequest pending;
  pending.set_profile(kAsyncProfile);
  for (JobState state : {v1::JOB_STATE_QUEUED, v1::JOB_STATE_RUNNING, v1::JOB_STATE_FAILED}) {
    pending.add_states(state);
  }
  const absl::Time wait_until = absl::Now() + absl::Seconds(120);
  size_t left = 0;
  while (true) {
    const absl::StatusOr<std::vector<Job>> jobs = ListAllJobs(pending);
    ASSERT_TRUE(jobs.ok()) << jobs.status();
    left = jobs->size();
    if (left == 0 || absl::Now() >= wait_until) break;
    absl::SleepFor(absl::Milliseconds(250));
  }
  const absl::Time all_done = absl::Now();
  EXPECT_EQ(left, 0u) << "jobs still pending after 120 s";

  v1::ListJobsRequest all;
  all.set_profile(kAsyncProfile);
  const absl::StatusOr<std::vector<Job>> jobs = ListAllJobs(all);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  std::map<std::string, Job> by_id;
  for (const Job& job : *jobs) by_id[job.id()] = job;
  EXPECT_EQ(jobs->size(), static_cast<size_t>(kEvents)) << "one job per event, none twice";
  EXPECT_EQ(by_id.size(), jobs->size());
  int not_succeeded = 0;
  for (int i = 0; i < kEvents; ++i) {
    const auto found = by_id.find(job_ids[i]);
    if (found == by_id.end()) {
      if (++not_succeeded <= 10)
        ADD_FAILURE() << "event " << i << ": job " << job_ids[i] << " lost";
      continue;
    }
    const Job& job = found->second;
    EXPECT_EQ(job.trigger().key(), seed.apps[i].name);
    if (job.state() != v1::JOB_STATE_SUCCEEDED && ++not_succeeded <= 10) {
      ADD_FAILURE() << "event " << i << ": " << job.ShortDebugString();
    }
  }
  EXPECT_EQ(not_succeeded, 0) << "accepted jobs that did not succeed";

  // The figures: enqueue rate before the kill; restart to the first job completed after it.
  absl::Time first_done = absl::InfiniteFuture();
  absl::Time first_resumed = absl::InfiniteFuture();
  int unfinished_at_kill = 0;
  int retried = 0;
  int done_before_kill = 0;
  for (const Job& job : *jobs) {
    const absl::Time created = TimeOf(job.create_time());
    const absl::Time ended = TimeOf(job.end_time());
    if (ended < kill_time) ++done_before_kill;
    if (created < kill_time && ended >= kill_time) ++unfinished_at_kill;
    if (job.attempts() > 1) ++retried;
    if (ended >= restart_time) {
      first_done = std::min(first_done, ended);
      if (created < kill_time) first_resumed = std::min(first_resumed, ended);
    }
  }
  EXPECT_GT(unfinished_at_kill, 0) << "the kill came when no job was left to run";
  const absl::Time first_accepted_after =
      *std::min_element(accepted_at.begin(), accepted_at.end(), [&](absl::Time a, absl::Time b) {
        return (a > restart_time ? a : absl::InfiniteFuture()) <
               (b > restart_time ? b : absl::InfiniteFuture());
      });
  std::string refusals;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [answer, count] : refused)
      absl::StrAppend(&refusals, " ", answer, " x", count);
  }
  std::cout << absl::StrFormat(
                   "[ figures  ] events: sandbox latency %d ms, %d senders, %d workers\n"
                   "[ figures  ] durable enqueue rate through the gateway before the kill: %d "
                   "accepted in %.3f s = %.0f jobs/s\n"
                   "[ figures  ] at the kill: %d jobs done, %d accepted and unfinished; %d jobs "
                   "needed a 2nd attempt; refused while down:%s\n"
                   "[ figures  ] restart: process start to ready %.0f ms; to the first job "
                   "completed %.0f ms; to the first resumed (accepted before the kill) job %.0f "
                   "ms; to the gateway's first 202 %.0f ms\n"
                   "[ figures  ] all %d accepted %.1f s after the first post, all done %.1f s "
                   "after it",
                   static_cast<int>(absl::ToInt64Milliseconds(kLatency)), kSenders, 8,
                   accepted_at_kill, Seconds(kill_time - start),
                   accepted_at_kill / Seconds(kill_time - start), done_before_kill,
                   unfinished_at_kill, retried, refusals.empty() ? " none" : refusals,
                   absl::ToDoubleMilliseconds(ready_time - restart_time),
                   absl::ToDoubleMilliseconds(first_done - restart_time),
                   absl::ToDoubleMilliseconds(first_resumed - restart_time),
                   absl::ToDoubleMilliseconds(first_accepted_after - restart_time), kEvents,
                   Seconds(all_accepted - start), Seconds(all_done - start))
            << std::endl;

  // Onspring, read without the latency.
  box().SetFaults(FakeKind::kServiceNow, {});
  box().SetFaults(FakeKind::kOnspring, {});
  const std::map<std::string, int64_t> user_ids = ExpectUsersOnce(QueryAll(100), seed);
  EXPECT_EQ(ExpectAppRecords(QueryAll(300), seed, user_ids), 0);
}

// 3. A batch run over 5,000 ServiceNow rows, killed with -9 mid-way, resumes from its checkpoint
// in the restarted process: pages done before the kill are not read again (the sandbox's log of
// the table's list reads), every record exists once with its values.
TEST_F(JobsE2eTest, BatchRunKilledMidwayResumesFromItsCheckpoint) {
  constexpr int kRows = 5000;
  constexpr int kSeedApps = 7;
  constexpr int kTotal = kRows + kSeedApps;
  constexpr int kPageSize = 200;  // the batch runner's default
  const absl::Duration kLatency = absl::Milliseconds(20);
  const uint64_t crash_seed = CrashSeed();
  std::mt19937_64 random(crash_seed);
  const int kill_at_seen = 1000 + static_cast<int>(random() % 2001);
  const absl::Duration kill_delay = absl::Milliseconds(100 + random() % 1300);
  std::cout << "[ crash    ] ONSYNC_CRASH_SEED=" << crash_seed << ": kill -9 "
            << absl::FormatDuration(kill_delay) << " after progress.seen >= " << kill_at_seen
            << std::endl;

  // Three rows per sys_updated_on second (pages end inside a second); 30 owners, 20 missing.
  const GenSeed seed = MakeGenSeed({.apps = kRows,
                                    .users = 30,
                                    .users_in_onspring = 10,
                                    .apps_per_second = 3,
                                    .targets_in_onspring = false,
                                    .random_seed = 5000});
  ASSERT_NO_FATAL_FAILURE(StartSandbox(seed.json, kLatency));
  ASSERT_NO_FATAL_FAILURE(StartStack());

  Job job;
  const absl::Time start = absl::Now();
  const grpc::Status started = StartBatch("business_app", &job);
  ASSERT_TRUE(started.ok()) << started.error_message();
  EXPECT_EQ(job.kind(), v1::JOB_KIND_BATCH);
  EXPECT_EQ(job.state(), v1::JOB_STATE_QUEUED);
  // One run per profile.
  Job second;
  EXPECT_EQ(StartBatch("business_app", &second).error_code(), grpc::StatusCode::ALREADY_EXISTS);

  const Job before_kill = WaitForJob(
      job.id(), [&](const Job& j) { return j.progress().seen() >= kill_at_seen || HasEnded(j); },
      absl::Seconds(120), absl::Milliseconds(25));
  const absl::Time seen_time = absl::Now();
  ASSERT_EQ(before_kill.state(), v1::JOB_STATE_RUNNING) << before_kill.ShortDebugString();
  // A checkpoint was just stored: kill somewhere within the next page (one takes ~1.5 s here:
  // its reads, then 200 rows 4 at a time).
  absl::SleepFor(kill_delay);
  ASSERT_NO_FATAL_FAILURE(KillServer());
  const absl::Time kill_time = absl::Now();
  absl::SleepFor(absl::Milliseconds(200));  // requests the dead process sent are logged
  const uint64_t kill_sequence = LastLogSequence();

  const absl::Time restart_time = absl::Now();
  ASSERT_NO_FATAL_FAILURE(RestartServer());
  const absl::Time ready_time = absl::Now();
  // The checkpoint it resumes from (read before its first page is done: that takes > 1 s here).
  const absl::StatusOr<Job> resumed = GetJob(job.id());
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_GE(resumed->progress().seen(), before_kill.progress().seen());

  const Job done = WaitForJob(job.id(), HasEnded, absl::Seconds(150), absl::Milliseconds(100));
  ASSERT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED) << done.ShortDebugString();
  EXPECT_EQ(done.attempts(), 2);  // the killed attempt and the resumed one
  const v1::BatchProgress& progress = done.progress();
  EXPECT_EQ(progress.seen(), kTotal);
  EXPECT_EQ(progress.failed(), 0);
  EXPECT_EQ(progress.created() + progress.updated() + progress.unchanged(), kTotal);
  EXPECT_EQ(progress.updated(), kSeedApps);  // they had their Name only
  // Only rows of the page in flight at the kill were done twice (unchanged the second time).
  EXPECT_LE(progress.unchanged(), kPageSize);
  EXPECT_EQ(progress.created() + progress.unchanged(), kRows);

  // The sandbox's log of the table's page reads (sysparm_no_count=true; a read that asks for the
  // count follows an empty page only), before the kill and by the restarted process.
  const std::vector<ListRead> reads = AppListReads();
  EXPECT_EQ(static_cast<int64_t>(reads.size()),
            box().CallCount(FakeKind::kServiceNow, kSnAppsRoute))
      << "the request log dropped entries";
  std::vector<std::string> before;
  std::vector<std::string> after;
  std::vector<std::string> counted;
  for (const ListRead& read : reads) {
    const std::string key = absl::StrCat(read.query, " offset=", read.offset);
    if (read.counted) {
      counted.push_back(key);
    } else {
      (read.sequence <= kill_sequence ? before : after).push_back(key);
    }
  }
  // The same page read twice in a row is the retry policy at work (an attempt that timed out
  // under load is sent again), not a finished page read again: count it once.
  before.erase(std::unique(before.begin(), before.end()), before.end());
  after.erase(std::unique(after.begin(), after.end()), after.end());
  ASSERT_FALSE(before.empty());
  ASSERT_FALSE(after.empty());
  const std::string first_page = absl::StrCat(kSnFirstPage, " offset=0");
  EXPECT_EQ(std::count(before.begin(), before.end(), first_page) +
                std::count(after.begin(), after.end(), first_page),
            1)
      << "the first page was read again";
  EXPECT_EQ(std::set<std::string>(before.begin(), before.end()).size(), before.size())
      << absl::StrJoin(before, "\n");
  EXPECT_EQ(std::set<std::string>(after.begin(), after.end()).size(), after.size())
      << absl::StrJoin(after, "\n");
  // A page read both times can only be the one in flight at the kill, read again first.
  const std::set<std::string> after_set(after.begin(), after.end());
  std::vector<std::string> repeated;
  for (const std::string& query : before) {
    if (after_set.contains(query)) repeated.push_back(query);
  }
  EXPECT_LE(repeated.size(), 1u) << absl::StrJoin(repeated, "\n");
  if (!repeated.empty()) {
    EXPECT_EQ(repeated.front(), before.back()) << "a finished page was read again";
    EXPECT_EQ(after.front(), before.back());
  }
  // Every page once (plus the empty page that ends the run), the one in flight perhaps twice;
  // the end confirmed once by the count.
  const size_t pages = (kTotal + kPageSize - 1) / kPageSize + 1;
  EXPECT_EQ(std::set<std::string>(before.begin(), before.end()).size() + after_set.size() -
                repeated.size(),
            pages);
  EXPECT_THAT(counted, ElementsAre(after.back()));

  // Throughput (at the default batch parallelism, 4).
  const int64_t first_rows = before_kill.progress().seen();
  const int64_t resumed_rows = kTotal - resumed->progress().seen();
  const absl::Duration resumed_time = TimeOf(done.end_time()) - ready_time;
  const absl::Duration run_time = (TimeOf(done.end_time()) - start) - (ready_time - kill_time);
  std::cout << absl::StrFormat(
                   "[ figures  ] batch: %d rows, sandbox latency %d ms, parallelism 4 (default), "
                   "page size %d\n"
                   "[ figures  ] first attempt: %d rows checkpointed in %.2f s = %.0f rows/s; "
                   "killed after %d page reads\n"
                   "[ figures  ] resumed attempt: %d rows in %.2f s = %.0f rows/s (from the "
                   "checkpoint at %d rows; restart to ready %.0f ms); %d rows redone\n"
                   "[ figures  ] whole run without the downtime: %.2f s = %.0f records/s",
                   kTotal, static_cast<int>(absl::ToInt64Milliseconds(kLatency)), kPageSize,
                   first_rows, Seconds(seen_time - start), first_rows / Seconds(seen_time - start),
                   before.size(), resumed_rows, Seconds(resumed_time),
                   resumed_rows / Seconds(resumed_time), resumed->progress().seen(),
                   absl::ToDoubleMilliseconds(ready_time - restart_time), progress.unchanged(),
                   Seconds(run_time), kTotal / Seconds(run_time))
            << std::endl;

  // Onspring: every record once, with its values; every user once.
  box().SetFaults(FakeKind::kServiceNow, {});
  box().SetFaults(FakeKind::kOnspring, {});
  const std::map<std::string, int64_t> user_ids = ExpectUsersOnce(QueryAll(100), seed);
  const std::vector<OsRecord> targets = QueryAll(300);
  EXPECT_EQ(targets.size(), static_cast<size_t>(kTotal));
  EXPECT_EQ(ExpectAppRecords(targets, seed, user_ids), 0);
}

// 4. ServiceNow down: the job fails, is retried with backoff and ends DEAD after max_attempts (3),
// and stays listed; once ServiceNow is back, RetryJob requeues it and it succeeds.
TEST_F(JobsE2eTest, FailingJobGoesDeadAfterMaxAttemptsAndRetryJobRunsItAgain) {
  ASSERT_NO_FATAL_FAILURE(StartSandbox());
  ASSERT_NO_FATAL_FAILURE(
      StartStack({.max_attempts = 3, .initial_backoff = "200ms", .max_backoff = "500ms"}));
  sandbox::FaultConfig down;
  down.fail_next = -1;
  down.fail_status = 503;
  down.retry_after_s = 0;
  box().SetFaults(FakeKind::kServiceNow, down);

  Job job;
  const grpc::Status enqueued = Enqueue(kAsyncProfile, "Payroll", &job);
  ASSERT_TRUE(enqueued.ok()) << enqueued.error_message();
  EXPECT_EQ(job.state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(job.max_attempts(), 3);
  std::vector<Job> seen;
  const Job dead = WaitForJob(
      job.id(), [](const Job& j) { return j.state() == v1::JOB_STATE_DEAD; }, absl::Seconds(60),
      absl::Milliseconds(10), &seen);
  ASSERT_EQ(dead.state(), v1::JOB_STATE_DEAD) << dead.ShortDebugString();
  const std::vector<std::string> path = StatePath(seen);
  EXPECT_THAT(path, ::testing::Contains("FAILED")) << absl::StrJoin(path, " ");
  EXPECT_EQ(path.back(), "DEAD");
  for (const Job& j : seen) {
    if (j.state() == v1::JOB_STATE_FAILED) {
      EXPECT_LT(j.attempts(), 3) << j.ShortDebugString();
      EXPECT_EQ(j.last_error().code(), 14) << j.ShortDebugString();
    }
  }
  EXPECT_EQ(dead.attempts(), 3);
  EXPECT_EQ(dead.last_error().code(), 14) << dead.last_error().message();  // UNAVAILABLE
  EXPECT_NE(TimeOf(dead.end_time()), absl::InfinitePast());

  // It stays DEAD (no further attempt) and listed.
  absl::SleepFor(absl::Seconds(1));
  const absl::StatusOr<Job> still = GetJob(job.id());
  ASSERT_TRUE(still.ok()) << still.status();
  EXPECT_EQ(still->state(), v1::JOB_STATE_DEAD);
  EXPECT_EQ(still->attempts(), 3);
  v1::ListJobsRequest dead_jobs;
  dead_jobs.add_states(v1::JOB_STATE_DEAD);
  const absl::StatusOr<std::vector<Job>> listed = ListAllJobs(dead_jobs);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().id(), job.id());
  EXPECT_EQ(box().CallCount(FakeKind::kOnspring, kPutRecords), 0);

  // ServiceNow is back: RetryJob requeues it now, with its attempts reset.
  box().SetFaults(FakeKind::kServiceNow, {});
  Job requeued;
  const grpc::Status retried = RetryJob(job.id(), &requeued);
  ASSERT_TRUE(retried.ok()) << retried.error_message();
  EXPECT_EQ(requeued.state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(requeued.attempts(), 0);
  const Job done = WaitForState(job.id(), v1::JOB_STATE_SUCCEEDED, absl::Seconds(20));
  EXPECT_EQ(done.attempts(), 1);
  EXPECT_TRUE(done.result().written());
  EXPECT_EQ(GetRecord(300, 1).fields[3002], R"("APM0001001")");
  EXPECT_EQ(TargetWrites(box()), (std::map<int64_t, int>{{1, 1}}));
  // A job that succeeded cannot be retried.
  EXPECT_EQ(RetryJob(job.id()).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

// 5. A queued job (the one worker is busy with a slow ServiceNow) is cancelled and never runs;
// an ended job cannot be cancelled (FAILED_PRECONDITION; HTTP 400 through the generic route).
TEST_F(JobsE2eTest, CancelledQueuedJobNeverRunsAndEndedJobsCannotBeCancelled) {
  ASSERT_NO_FATAL_FAILURE(StartSandbox());
  ASSERT_NO_FATAL_FAILURE(StartStack({.workers = 1}));
  sandbox::FaultConfig slow;
  slow.latency = absl::Milliseconds(1500);
  box().SetFaults(FakeKind::kServiceNow, slow);

  Job busy;
  ASSERT_TRUE(Enqueue(kAsyncProfile, "Payroll", &busy).ok());
  WaitForState(busy.id(), v1::JOB_STATE_RUNNING, absl::Seconds(10));
  Job queued;
  ASSERT_TRUE(Enqueue(kAsyncProfile, "Pay^Roll", &queued).ok());
  ASSERT_EQ(queued.state(), v1::JOB_STATE_QUEUED);
  Job cancelled;
  const grpc::Status cancel = CancelJob(queued.id(), &cancelled);
  ASSERT_TRUE(cancel.ok()) << cancel.error_message();
  EXPECT_EQ(cancelled.state(), v1::JOB_STATE_CANCELLED);
  EXPECT_NE(TimeOf(cancelled.end_time()), absl::InfinitePast());

  const Job done = WaitForState(busy.id(), v1::JOB_STATE_SUCCEEDED, absl::Seconds(20));
  EXPECT_TRUE(done.result().written());
  absl::SleepFor(absl::Milliseconds(800));  // the free worker polls every 250 ms
  const absl::StatusOr<Job> after = GetJob(queued.id());
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(after->attempts(), 0);
  EXPECT_EQ(TimeOf(after->start_time()), absl::InfinitePast());
  // Never run: one ServiceNow read (Payroll's), Pay^Roll's record (3) never written.
  EXPECT_EQ(box().CallCount(FakeKind::kServiceNow, kSnAppsRoute), 1);
  for (const auto& entry : box().request_log().Entries(FakeKind::kServiceNow)) {
    for (const auto& [key, value] : entry.query)
      EXPECT_THAT(value, ::testing::Not(HasSubstr("Pay^^Roll")));
  }
  EXPECT_EQ(TargetWrites(box()), (std::map<int64_t, int>{{1, 1}}));
  EXPECT_EQ(GetRecord(300, 3).fields.count(3002), 0u);

  // Ended jobs (SUCCEEDED, CANCELLED) cannot be cancelled.
  EXPECT_EQ(CancelJob(busy.id()).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(CancelJob(queued.id()).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  const HttpResult http = Gateway("POST", "/onsync.v1.SyncService/CancelJob",
                                  absl::StrCat(R"({"jobId": )", Quoted(busy.id()), "}"));
  EXPECT_EQ(http.status, 400) << http.body;
  const rapidjson::Document error = ParseJson(http.body);
  ASSERT_TRUE(error.IsObject() && error.HasMember("code")) << http.body;
  EXPECT_EQ(error["code"].GetInt(), 9);  // FAILED_PRECONDITION
  const absl::StatusOr<Job> unchanged = GetJob(busy.id());
  ASSERT_TRUE(unchanged.ok());
  EXPECT_EQ(unchanged->state(), v1::JOB_STATE_SUCCEEDED);
}

// 6. WatchJob over gRPC streams the job on every change, QUEUED -> RUNNING -> SUCCEEDED, and ends.
TEST_F(JobsE2eTest, WatchJobStreamsQueuedRunningSucceededUntilTheEnd) {
  ASSERT_NO_FATAL_FAILURE(StartSandbox());
  ASSERT_NO_FATAL_FAILURE(StartStack({.workers = 1}));
  sandbox::FaultConfig slow;
  slow.latency = absl::Milliseconds(800);
  box().SetFaults(FakeKind::kServiceNow, slow);

  Job busy;
  ASSERT_TRUE(Enqueue(kAsyncProfile, "Payroll", &busy).ok());
  WaitForState(busy.id(), v1::JOB_STATE_RUNNING, absl::Seconds(10));
  Job job;
  ASSERT_TRUE(Enqueue(kAsyncProfile, "O'Brien Ledger", &job).ok());
  ASSERT_EQ(job.state(), v1::JOB_STATE_QUEUED);

  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::WatchJobRequest request;
  request.set_job_id(job.id());
  std::unique_ptr<grpc::ClientReader<v1::WatchJobResponse>> reader =
      stub().WatchJob(&context, request);
  std::vector<Job> updates;
  v1::WatchJobResponse update;
  while (reader->Read(&update)) updates.push_back(update.job());
  const grpc::Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  ASSERT_FALSE(updates.empty());
  std::vector<std::string> states;
  for (const Job& j : updates) states.push_back(StateName(j.state()));
  EXPECT_THAT(StatePath(updates), ElementsAre("QUEUED", "RUNNING", "SUCCEEDED"))
      << absl::StrJoin(states, " ");
  for (size_t i = 0; i < updates.size(); ++i) {
    EXPECT_EQ(updates[i].id(), job.id());
    if (i > 0) {
      EXPECT_FALSE(google::protobuf::util::MessageDifferencer::Equals(updates[i - 1], updates[i]))
          << "message " << i << " repeats the previous one";
    }
  }
  EXPECT_TRUE(updates.back().result().written());
  EXPECT_EQ(updates.back().result().target_record_id(), 2);

  // An unknown job: NOT_FOUND.
  grpc::ClientContext unknown_context;
  unknown_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  request.set_job_id("j_00000000000000000000000000");
  auto unknown = stub().WatchJob(&unknown_context, request);
  while (unknown->Read(&update)) {
  }
  EXPECT_EQ(unknown->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

// 7. Lease expiry: the server is killed with -9 while a slow job runs; a second process on the
// same store (started after the first died) takes the job over at once (SQLite's leases are
// released at start) and it succeeds on its second attempt.
TEST_F(JobsE2eTest, JobOfAKilledServerIsTakenOverByTheNextProcess) {
  ASSERT_NO_FATAL_FAILURE(StartSandbox());
  ASSERT_NO_FATAL_FAILURE(StartStack({.lease = "2s"}));
  sandbox::FaultConfig slow;
  slow.latency = absl::Seconds(5);
  box().SetFaults(FakeKind::kServiceNow, slow);

  Job job;
  ASSERT_TRUE(Enqueue(kAsyncProfile, "Payroll", &job).ok());
  const Job running = WaitForJob(
      job.id(),
      [](const Job& j) { return j.state() == v1::JOB_STATE_RUNNING && j.attempts() == 1; },
      absl::Seconds(10));
  ASSERT_EQ(running.state(), v1::JOB_STATE_RUNNING);
  absl::SleepFor(absl::Milliseconds(300));  // its ServiceNow read is in flight (5 s)
  EXPECT_EQ(box().CallCount(FakeKind::kServiceNow, kSnAppsRoute), 1);
  ASSERT_NO_FATAL_FAILURE(KillServer());

  const absl::Time restart_time = absl::Now();
  ASSERT_NO_FATAL_FAILURE(RestartServer());
  const absl::Time ready_time = absl::Now();
  const Job taken = WaitForJob(
      job.id(), [](const Job& j) { return j.attempts() >= 2; }, absl::Seconds(10),
      absl::Milliseconds(5));
  const absl::Time taken_time = absl::Now();
  EXPECT_EQ(taken.state(), v1::JOB_STATE_RUNNING) << taken.ShortDebugString();
  EXPECT_EQ(taken.attempts(), 2);
  // At once: well before the lease (2 s) of the dead process could have run out.
  EXPECT_LT(taken_time - ready_time, absl::Seconds(1));
  std::cout << absl::StrFormat(
                   "[ figures  ] lease: restart to ready %.0f ms, ready to the job taken over "
                   "%.0f ms (lease 2 s)",
                   absl::ToDoubleMilliseconds(ready_time - restart_time),
                   absl::ToDoubleMilliseconds(taken_time - ready_time))
            << std::endl;

  const Job done = WaitForState(job.id(), v1::JOB_STATE_SUCCEEDED, absl::Seconds(30));
  EXPECT_EQ(done.attempts(), 2);
  EXPECT_TRUE(done.result().written());
  EXPECT_EQ(box().CallCount(FakeKind::kServiceNow, kSnAppsRoute), 2);
  box().SetFaults(FakeKind::kServiceNow, {});
  EXPECT_EQ(GetRecord(300, 1).fields[3002], R"("APM0001001")");
  EXPECT_EQ(QueryAll(100, "1005 eq 'Abel Tuter'").size(), 1u);
  EXPECT_EQ(TargetWrites(box()), (std::map<int64_t, int>{{1, 1}}));
}

}  // namespace
}  // namespace onsync::testing
