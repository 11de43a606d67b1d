package devtemporal

import (
	"maps"
	"time"

	"go.temporal.io/server/common/dynamicconfig"
)

// namespaceRefreshInterval is how often every service re-reads namespaces from the
// database (system.namespaceCacheRefreshInterval, server default 2 s). Start waits
// about twice this after registering search attributes on an existing namespace.
const namespaceRefreshInterval = time.Second

// queuePollRPS replaces the history queue readers' default poll rate limit of 20/s.
const queuePollRPS = 10000

// DefaultDynamicConfig returns the dynamic config Start uses, before Config.DynamicConfig
// overrides. The server's defaults are sized for a cluster with many history shards
// and hosts; on one host with one shard several of them become the bottleneck:
//
//   - history.{transfer,timer,visibility,outbound}ProcessorMaxPollRPS (default 20):
//     each queue reader of the single shard polls at most 20 times a second, so every
//     transfer task (dispatching a workflow or activity task to matching) waited up to
//     50 ms, a step added to every persisted workflow task; timers fired up to 50 ms
//     late and visibility (list/search) lagged. Raised to 10000.
//   - history.outboundQueue.hostScheduler.maxTaskRPS (default 100): Nexus and
//     callback tasks, same reasoning.
//   - frontend.rps and frontend.namespaceRPS (default 2400 per host): the whole
//     cluster is this one frontend, which load tests and the UI share. Raised to 100000.
//   - frontend.namespaceRPS.visibility (default 10): list/count/search calls from the
//     UI, tests polling for a workflow's state, and the API's conversation listing
//     would get ResourceExhausted. Raised to 1000.
//   - frontend namespace-replication-inducing API limits (UpdateNamespace and friends,
//     default 1-20/s): Start may update the namespace; raised to 1000.
//   - matching.numTaskqueue{Read,Write}Partitions (default 4): partitions spread load
//     across matching hosts; with one host they only add forwarding between partitions
//     (itself rate-limited to 10/s by matching.forwarderMaxRatePerSecond). Set to 1.
//   - system.namespaceCacheRefreshInterval (default 2 s): 1 s, so search attributes
//     added to an existing namespace become usable sooner.
//   - history.hostLevelCacheMaxSize (default 128000 mutable states): 2048, to bound
//     the dev server's memory: thousands of idle conversations must not each keep
//     their mutable state in memory; a turn of an evicted one reloads it from SQLite.
func DefaultDynamicConfig() map[string]any {
	return map[string]any{
		dynamicconfig.TransferProcessorMaxPollRPS.Key().String():                                        queuePollRPS,
		dynamicconfig.TimerProcessorMaxPollRPS.Key().String():                                           queuePollRPS,
		dynamicconfig.VisibilityProcessorMaxPollRPS.Key().String():                                      queuePollRPS,
		dynamicconfig.OutboundProcessorMaxPollRPS.Key().String():                                        queuePollRPS,
		dynamicconfig.OutboundQueueHostSchedulerMaxTaskRPS.Key().String():                               float64(queuePollRPS),
		dynamicconfig.FrontendRPS.Key().String():                                                        100000,
		dynamicconfig.FrontendMaxNamespaceRPSPerInstance.Key().String():                                 100000,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key().String():                       1000,
		dynamicconfig.FrontendNamespaceReplicationInducingAPIsRPS.Key().String():                        1000,
		dynamicconfig.FrontendMaxNamespaceNamespaceReplicationInducingAPIsRPSPerInstance.Key().String(): 1000,
		dynamicconfig.FrontendGlobalNamespaceNamespaceReplicationInducingAPIsRPS.Key().String():         1000,
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key().String():                                 1,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key().String():                                1,
		dynamicconfig.NamespaceCacheRefreshInterval.Key().String():                                      namespaceRefreshInterval,
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key().String():                                       2048,
	}
}

// dynamicConfigClient merges DefaultDynamicConfig with overrides.
func dynamicConfigClient(overrides map[string]any) dynamicconfig.StaticClient {
	all := DefaultDynamicConfig()
	maps.Copy(all, overrides)
	client := make(dynamicconfig.StaticClient, len(all))
	for k, v := range all {
		client[dynamicconfig.MakeKey(k)] = v
	}
	return client
}
