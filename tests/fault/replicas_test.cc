// Replicas on one PostgreSQL (issue 8 item 4): three onsync-server processes and one gateway
// (round_robin over the three) share a fresh schema of the database that ONSYNC_TEST_PG_DSN names
// (scripts/test.sh starts a throw-away PostgreSQL); 1,000 async events whose referenced users
// overlap heavily, so that creates race across replicas; one server is killed with -9 mid-run and
// not restarted. Every job ends SUCCEEDED, no user is created twice, every record holds its
// values. The same load on one replica is the baseline. Both print the figures of the closing
// note (enqueue rate, throughput, recovery after the kill) on stdout.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/fault/jobs_fixture.h"
#include "tests/server/jobs/postgres_test_support.h"

namespace onsync::testing {
namespace {

using jobs::postgres_testing::TestSchema;
using onsync::v1::Job;
using onsync::v1::JobState;
using sandbox::FakeKind;

constexpr char kLease[] = "2s";

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

class ReplicasTest : public JobsE2eTest {
 protected:
  void TearDown() override {
    // The survivors stop cleanly on SIGTERM; the killed one has exited already. The base stops
    // the gateway and the sandbox.
    stub_.reset();
    channel_.reset();
    for (size_t i = 0; i < replicas_.size(); ++i) {
      if (!replicas_[i].has_value() || killed_[i]) continue;
      replicas_[i]->Signal(SIGTERM);
      const absl::StatusOr<int> code = replicas_[i]->Wait(absl::Seconds(20));
      EXPECT_TRUE(code.ok()) << code.status();
      EXPECT_EQ(code.value_or(0), 0) << replicas_[i]->Stderr();
    }
    if (HasFailure()) {
      for (auto& replica : replicas_) {
        if (!replica.has_value()) continue;
        const std::string err = replica->Stderr();
        std::cerr << "onsync-server stderr (tail):\n"
                  << err.substr(err.size() > 8000 ? err.size() - 8000 : 0) << "\n";
      }
    }
    JobsE2eTest::TearDown();
  }

  // `replicas` servers on the test schema and a gateway over all of them; the gRPC client talks
  // to the last one.
  void StartReplicas(int replicas, const JobsSettings& jobs) {
    absl::StatusOr<std::unique_ptr<TestSchema>> schema = TestSchema::Create();
    ASSERT_TRUE(schema.ok()) << schema.status().message();
    schema_ = *std::move(schema);
    const std::string dsn_file = WriteTempFile(schema_->dsn());
    temp_files_.push_back(dsn_file);
    std::string yaml =
        AsyncConfigYaml(ReadTextFile(SourcePath("deploy/examples/business-app.yaml")), jobs);
    absl::StrAppend(&yaml, "  postgres:\n    dsn_file: ", dsn_file, "\n    pool_size: 8\n");
    config_path_ = WriteTempFile(WithSandboxConnections(yaml, sandbox_->servicenow_url(),
                                                        sandbox_->onspring_url(), temp_files_));
    temp_files_.push_back(config_path_);
    std::string addresses = "ipv4:";
    for (int i = 0; i < replicas; ++i) {
      auto server = ChildProcess::Start(
          {BinaryPath("onsync-server"), "--config", config_path_, "--listen", "127.0.0.1:0"});
      ASSERT_TRUE(server.ok()) << server.status();
      replicas_.emplace_back(*std::move(server));
      killed_.push_back(false);
      auto line = replicas_.back()->WaitForLine("onsync-server listening on", kStartTimeout);
      ASSERT_TRUE(line.ok()) << line.status() << replicas_.back()->Stderr();
      ports_.push_back(PortFromReadyLine(*line));
      absl::StrAppend(&addresses, i > 0 ? "," : "", "127.0.0.1:", ports_.back());
    }
    server_port_ = ports_.back();
    ASSERT_NO_FATAL_FAILURE(RestartClient());
    auto gateway = ChildProcess::Start(
        {BinaryPath("onsync-gateway"), "--listen", "127.0.0.1:0", "--server", addresses});
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_.emplace(*std::move(gateway));
    auto line = gateway_->WaitForLine("onsync-gateway listening on", kStartTimeout);
    ASSERT_TRUE(line.ok()) << line.status();
    gateway_port_ = PortFromReadyLine(*line);
  }

  void RunEvents(int replicas, bool kill);

  void KillReplica(int i) {
    replicas_[i]->Signal(SIGKILL);
    const absl::StatusOr<int> code = replicas_[i]->Wait(absl::Seconds(10));
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, 128 + SIGKILL);
    killed_[i] = true;
  }

  std::unique_ptr<TestSchema> schema_;
  std::vector<std::optional<ChildProcess>> replicas_;
  std::vector<bool> killed_;
  std::vector<int> ports_;
};

// 1,000 events through the gateway over `replicas` servers; with `kill`, replica 0 is killed with
// -9 once some jobs are done and others run, and never restarted.
void ReplicasTest::RunEvents(int replicas, bool kill) {
  constexpr int kEvents = 1000;
  constexpr int kSenders = 8;
  constexpr int kKillAfterDone = 150;
  const absl::Duration kLatency = absl::Milliseconds(20);
  // 1,000 apps whose three user references are drawn from 60 users, 10 of them in Onspring: the
  // other 50 are created by jobs racing on three replicas.
  const GenSeed seed = MakeGenSeed({.apps = kEvents, .users = 60, .users_in_onspring = 10});
  ASSERT_NO_FATAL_FAILURE(StartSandbox(seed.json, kLatency));
  ASSERT_NO_FATAL_FAILURE(StartReplicas(replicas, {.workers = 8, .lease = kLease}));

  std::vector<std::string> job_ids(kEvents);
  std::mutex mu;
  std::map<std::string, int> refused;  // guarded by mu
  std::atomic<int> next{0};
  std::atomic<int> accepted{0};
  std::atomic<bool> stop{false};
  const absl::Time start = absl::Now();
  const absl::Time give_up = start + absl::Seconds(60);
  absl::Time all_accepted = absl::InfiniteFuture();
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
            if (json.IsObject() && json.HasMember("jobId") && json["jobId"].IsString()) {
              job_ids[i] = json["jobId"].GetString();
            }
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

  // The kill: once some jobs are done and others run.
  auto count = [&](std::initializer_list<JobState> states) -> int {
    v1::ListJobsRequest request;
    request.set_profile(kAsyncProfile);
    for (JobState state : states) request.add_states(state);
    const absl::StatusOr<std::vector<Job>> jobs = ListAllJobs(request);
    EXPECT_TRUE(jobs.ok()) << jobs.status();
    return jobs.ok() ? static_cast<int>(jobs->size()) : -1;
  };
  int done_at_kill = 0;
  int running_at_kill = 0;
  while (kill && absl::Now() < start + absl::Seconds(60)) {
    done_at_kill = count({v1::JOB_STATE_SUCCEEDED});
    running_at_kill = count({v1::JOB_STATE_RUNNING});
    if (done_at_kill >= kKillAfterDone && running_at_kill > 0) break;
    absl::SleepFor(absl::Milliseconds(5));
  }
  if (kill) {
    ASSERT_GE(done_at_kill, kKillAfterDone) << "jobs did not run in time";
  }
  const int accepted_at_kill = accepted;
  const absl::Time kill_time = absl::Now();
  if (kill) {
    ASSERT_NO_FATAL_FAILURE(KillReplica(0));
  }

  for (std::thread& sender : senders) sender.join();
  all_accepted = absl::Now();
  ASSERT_EQ(accepted, kEvents) << "events never accepted";

  // Every job ends (bounded): the killed replica's leases expire, the survivors take over.
  const absl::Time wait_until = absl::Now() + absl::Seconds(60);
  int left = 0;
  while (true) {
    left = count({v1::JOB_STATE_QUEUED, v1::JOB_STATE_RUNNING, v1::JOB_STATE_FAILED});
    if (left == 0 || absl::Now() >= wait_until) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  const absl::Time all_done = absl::Now();
  EXPECT_EQ(left, 0) << "jobs still pending after 60 s";

  v1::ListJobsRequest all;
  all.set_profile(kAsyncProfile);
  const absl::StatusOr<std::vector<Job>> jobs = ListAllJobs(all);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  std::map<std::string, const Job*> by_id;
  for (const Job& job : *jobs) by_id[job.id()] = &job;
  EXPECT_EQ(jobs->size(), static_cast<size_t>(kEvents)) << "one job per event, none twice";
  int not_succeeded = 0;
  for (int i = 0; i < kEvents; ++i) {
    const auto found = by_id.find(job_ids[i]);
    if (found == by_id.end()) {
      if (++not_succeeded <= 10)
        ADD_FAILURE() << "event " << i << ": job " << job_ids[i] << " lost";
      continue;
    }
    if (found->second->state() != v1::JOB_STATE_SUCCEEDED && ++not_succeeded <= 10) {
      ADD_FAILURE() << "event " << i << ": " << found->second->ShortDebugString();
    }
  }
  EXPECT_EQ(not_succeeded, 0) << "accepted jobs that did not succeed";

  // Recovery: the jobs that the killed replica held (a 2nd attempt, started before the kill)
  // ended this long after the kill.
  int taken_over = 0;
  absl::Time last_taken_over = kill_time;
  absl::Time first_end = absl::InfiniteFuture();
  absl::Time last_end = absl::InfinitePast();
  for (const Job& job : *jobs) {
    const absl::Time ended = TimeOf(job.end_time());
    first_end = std::min(first_end, ended);
    last_end = std::max(last_end, ended);
    if (job.attempts() > 1 && TimeOf(job.create_time()) < kill_time) {
      ++taken_over;
      last_taken_over = std::max(last_taken_over, ended);
    }
  }
  if (kill) {
    EXPECT_GT(taken_over, 0) << "the kill came when the killed replica ran no job";
  }
  std::string refusals;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [answer, n] : refused) absl::StrAppend(&refusals, " ", answer, " x", n);
  }
  std::cout << absl::StrFormat(
                   "[ figures  ] replicas: %d servers on PostgreSQL, sandbox latency %d ms, %d "
                   "senders, 8 workers each, lease %s\n"
                   "[ figures  ] durable enqueue rate through the gateway: %d accepted in %.3f s "
                   "= %.0f/s (before the kill: %d in %.3f s)\n"
                   "[ figures  ] at the kill (if any): %d jobs succeeded, %d running; refused:%s\n"
                   "[ figures  ] sync throughput: %d jobs from the first post to the last end in "
                   "%.2f s = %.0f jobs/s\n"
                   "[ figures  ] recovery: %d jobs of the killed replica taken over; the last one "
                   "succeeded %.0f ms after the kill; all done %.1f s after the first post",
                   replicas, static_cast<int>(absl::ToInt64Milliseconds(kLatency)), kSenders,
                   kLease, kEvents, Seconds(all_accepted - start),
                   kEvents / Seconds(all_accepted - start), accepted_at_kill,
                   Seconds(kill_time - start), done_at_kill, running_at_kill,
                   refusals.empty() ? " none" : refusals, kEvents, Seconds(last_end - start),
                   kEvents / Seconds(last_end - start), taken_over,
                   absl::ToDoubleMilliseconds(last_taken_over - kill_time),
                   Seconds(all_done - start))
            << std::endl;

  // Onspring, read without the latency: each user once, each record with its final values.
  box().SetFaults(FakeKind::kServiceNow, {});
  box().SetFaults(FakeKind::kOnspring, {});
  const std::map<std::string, int64_t> user_ids = ExpectUsersOnce(QueryAll(100), seed);
  EXPECT_EQ(ExpectAppRecords(QueryAll(300), seed, user_ids), 0);
}

TEST_F(ReplicasTest, ThreeReplicasOneKilledEveryJobSucceedsNoUserCreatedTwice) {
  RunEvents(3, /*kill=*/true);
}

// The same load on one replica (no kill): the baseline of the figures.
TEST_F(ReplicasTest, OneReplicaOnPostgresRunsEveryJobOnce) { RunEvents(1, /*kill=*/false); }

}  // namespace
}  // namespace onsync::testing
