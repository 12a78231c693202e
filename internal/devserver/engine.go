package devserver

import (
	"fmt"
	"strconv"

	"go.temporal.io/server/common/dynamicconfig"
)

// Engine is the set of engine settings of the embedded server, each of which
// can be measured alone. The zero value is the server as it ran before the
// settings existed.
type Engine struct {
	// VisibilityStore is VisibilityCombined ("" too), VisibilitySeparate or
	// VisibilityAuto. In memory, separate and auto use a second in-memory
	// database.
	VisibilityStore string
	// ShardIOConcurrency is history.shardIOConcurrency: how many persistence
	// operations of the (one) history shard may run at once (0: the
	// server's default, 1).
	ShardIOConcurrency int
	// RaiseRateLimits lifts the server's own rate limits (RaisedRateLimits)
	// so that SQLite, not a token bucket, sets the pace.
	RaiseRateLimits bool
	// SQLiteCacheSize is SQLite's cache_size pragma of the file stores:
	// pages, or KiB when negative (0: SQLite's default, -2000 = 2 MiB per
	// connection).
	SQLiteCacheSize int
	// SQLiteMmapSize is SQLite's mmap_size pragma of the file stores, in
	// bytes (0: SQLite's default, no memory-mapped I/O).
	SQLiteMmapSize int64
	// NoForceSearchAttributesRefresh drops the test-only server setting
	// system.forceSearchAttributesCacheRefreshOnRead, which re-reads the
	// cluster metadata on every search attribute lookup.
	NoForceSearchAttributesRefresh bool
}

// raisedRate is what RaiseRateLimits sets the request and persistence
// rate limits to: far above what one SQLite connection serves.
const raisedRate = 100_000

// raisedPollRate is what RaiseRateLimits sets the history queue readers'
// poll limits to (per shard; each poll loads a batch of up to 100 tasks).
const raisedPollRate = 1_000

// RaisedRateLimits are the dynamic config keys RaiseRateLimits sets, with
// their values (the server's defaults in the comments).
var RaisedRateLimits = []struct {
	Key   dynamicconfig.Key
	Value int
}{
	{dynamicconfig.FrontendRPS.Key(), raisedRate},                             // frontend.rps: 2400
	{dynamicconfig.FrontendMaxNamespaceRPSPerInstance.Key(), raisedRate},      // frontend.namespaceRPS: 2400
	{dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(), 1_000}, // frontend.namespaceRPS.visibility: 10
	{dynamicconfig.FrontendPersistenceMaxQPS.Key(), raisedRate},               // frontend.persistenceMaxQPS: 2000
	{dynamicconfig.MatchingRPS.Key(), raisedRate},                             // matching.rps: 1200
	{dynamicconfig.MatchingPersistenceMaxQPS.Key(), raisedRate},               // matching.persistenceMaxQPS: 3000
	{dynamicconfig.HistoryRPS.Key(), raisedRate},                              // history.rps: 3000
	{dynamicconfig.HistoryPersistenceMaxQPS.Key(), raisedRate},                // history.persistenceMaxQPS: 9000
	{dynamicconfig.TransferProcessorMaxPollRPS.Key(), raisedPollRate},         // history.transferProcessorMaxPollRPS: 20
	{dynamicconfig.TimerProcessorMaxPollRPS.Key(), raisedPollRate},            // history.timerProcessorMaxPollRPS: 20
	{dynamicconfig.VisibilityProcessorMaxPollRPS.Key(), raisedPollRate},       // history.visibilityProcessorMaxPollRPS: 20
	{dynamicconfig.VisibilityPersistenceMaxWriteQPS.Key(), raisedRate},        // system.visibilityPersistenceMaxWriteQPS: 9000
	{dynamicconfig.VisibilityPersistenceMaxReadQPS.Key(), raisedRate},         // system.visibilityPersistenceMaxReadQPS: 9000
}

// dynamicConfig is the dynamic config of the embedded server.
func dynamicConfig(e Engine) dynamicconfig.StaticClient {
	dc := dynamicconfig.StaticClient{
		// One process, one worker: task queue partitions only add hops
		// (a task lands in one partition while the poller waits on another).
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  1,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): 1,
	}
	if !e.NoForceSearchAttributesRefresh {
		dc[dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key()] = true
	}
	if e.ShardIOConcurrency > 0 {
		dc[dynamicconfig.ShardIOConcurrency.Key()] = e.ShardIOConcurrency
	}
	if e.RaiseRateLimits {
		for _, l := range RaisedRateLimits {
			dc[l.Key] = l.Value
		}
	}
	return dc
}

// fileStoreAttributes sets the SQLite connection attributes of the file
// stores. The SQLite plugin passes every key that is not a URI parameter as
// `_pragma=<key>=<value>`, so the keys are SQLite's own pragma names: a
// mattn-style `_journal_mode` would be a pragma that does not exist, and
// SQLite ignores unknown pragmas silently.
func fileStoreAttributes(attrs map[string]string, synchronous string, e Engine) error {
	if err := syncAttributes(attrs, synchronous); err != nil {
		return err
	}
	if e.SQLiteCacheSize != 0 {
		attrs["cache_size"] = strconv.Itoa(e.SQLiteCacheSize)
	}
	if e.SQLiteMmapSize < 0 {
		return fmt.Errorf("sqlite mmap_size %d: must not be negative", e.SQLiteMmapSize)
	}
	if e.SQLiteMmapSize > 0 {
		attrs["mmap_size"] = strconv.FormatInt(e.SQLiteMmapSize, 10)
	}
	return nil
}
