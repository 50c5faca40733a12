// The server's metrics (served by the admin listener, see server.h):
//   grpc_server_handled_total{grpc_service,grpc_method,grpc_code}, grpc_server_handling_seconds
//     {grpc_service,grpc_method}: every RPC, unary and streaming, through a gRPC server
//     interceptor (MakeGrpcMetricsInterceptor). Service and method are those of a registered
//     service; anything else is "unknown".
//   upstream_requests_total, upstream_request_duration_seconds: clients/http/metered_transport.h.
//   Read at scrape time (CollectServerMetrics): upstream_calls_total, upstream_retries_total,
//     upstream_retry_budget_exhausted_total (RetryingTransport::stats); engine_cache_hits_total
//     {cache}, engine_cache_misses_total{cache} (cache = references | fields), engine_cache_entries
//     {cache}; sync_runs_total{grpc_code} (engine runs, events and batch rows, by outcome),
//     sync_records_created_total, sync_records_written_total (SyncEngine::stats); jobs{state},
//     jobs_queue_depth, jobs_oldest_queued_age_seconds (the job store, when there is one).
//
// Thread safety: the interceptor factory and the collector are thread-safe; the collector reads
// the service, which must outlive the collector's registration (CollectorHandle).
#ifndef ONSYNC_SERVER_SERVICE_SERVER_METRICS_H_
#define ONSYNC_SERVER_SERVICE_SERVER_METRICS_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <vector>

#include "common/metrics.h"
#include "server/service/sync_service.h"

namespace onsync::server {

// Creates the interceptor of every call; `registry` must outlive the gRPC server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeGrpcMetricsInterceptor(
    metrics::Registry& registry);

// The scrape-time families of `service` (see above).
std::vector<prometheus::MetricFamily> CollectServerMetrics(const SyncServiceImpl& service);

}  // namespace onsync::server

#endif  // ONSYNC_SERVER_SERVICE_SERVER_METRICS_H_
