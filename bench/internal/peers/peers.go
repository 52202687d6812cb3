// Package peers gives every write-ahead log the benchmarks measure, and the
// raw write+fdatasync loop that is their physical limit, one small
// interface, so that the walbench command and the Go benchmarks drive them
// with the same code.
//
// Every implementation is used in its fully durable configuration: when
// Append returns nil, the record has been written and synced to disk.
//
//	a, err := peers.Open(peers.Continuity, dir)
//	if err != nil { ... }
//	defer a.Close()
//	err = a.Append(payload) // durable when it returns
//
// # Concurrency
//
// Append is safe for concurrent use on every Appender that Open returns;
// for the peers that are single-writer libraries, the adapter serializes
// callers through a mutex and assigns the record index under it, as a user
// of the library has to. A RawFile is for one goroutine.
package peers

import (
	"fmt"
	"os"
)

// Appender is a log that makes each record durable before Append returns.
type Appender interface {
	// Append writes p as one record and returns once it is durable. It
	// does not retain p after it returns. An error means the record is not
	// acknowledged.
	Append(p []byte) error

	// Close releases the log's files and goroutines. The files stay on
	// disk; the caller removes the directory.
	Close() error
}

// Counters are a log's write counters since it was opened.
type Counters struct {
	Records uint64 // records written
	Bytes   uint64 // bytes written: framing included for continuity, payload only for the group adapters
	Batches uint64 // group commits: one write and one sync each
	// Segments is the number of segment files the log holds (it grows
	// as the log rolls to new segments), or 0 if the log does not say.
	Segments uint64
}

// BatchCounter is implemented by Appenders that batch concurrent appends
// into group commits and count them.
type BatchCounter interface {
	// Counters returns the counters so far. It is safe to call
	// concurrently with Append.
	Counters() Counters
}

// Impl names a log implementation that Open can open.
type Impl string

// The implementations Open knows.
const (
	// Continuity is github.com/continuity-go/continuity/wal with
	// Options{}: Durability SyncBatch (group commit, one fdatasync per
	// batch) and 64 MiB segments preallocated with zeros.
	Continuity Impl = "continuity"

	// ContinuityRetention is Continuity in steady state: a retention
	// goroutine drops every sealed segment as soon as the log rolls
	// (TruncateFront up to the last record), as an archiver that keeps
	// up does, so new segments reuse released files instead of
	// zero-filled ones.
	ContinuityRetention Impl = "continuity+retention"

	// Tidwall is github.com/tidwall/wal with NoSync false (one fsync per
	// Write). Callers serialize through a mutex, under which the index is
	// assigned: the library is single-writer.
	Tidwall Impl = "tidwall"

	// TidwallGroup is github.com/tidwall/wal's WriteBatch behind a group
	// committer written here (the same scheme as continuity's: whatever
	// is queued while a batch syncs forms the next batch). The library
	// does not ship this; it shows what its batch API allows.
	TidwallGroup Impl = "tidwall+group"

	// Etcd is go.etcd.io/etcd/server/v3/storage/wal: one Save call, with
	// an empty HardState and one entry, per record; Save fdatasyncs.
	// Callers serialize through a mutex, under which the entry index is
	// assigned.
	Etcd Impl = "etcd"

	// EtcdGroup is etcd's WAL with Save called once per group of queued
	// records, as etcd's raft loop saves all entries of one Ready at once.
	// The group committer is the same as TidwallGroup's.
	EtcdGroup Impl = "etcd+group"
)

// Impls returns every implementation, continuity first.
func Impls() []Impl {
	return []Impl{Continuity, ContinuityRetention, Tidwall, TidwallGroup, Etcd, EtcdGroup}
}

// Grouped reports whether i is one of the group-commit adapters written
// here rather than a library used as it is.
func (i Impl) Grouped() bool { return i == TidwallGroup || i == EtcdGroup }

// Open creates a new, empty log of implementation impl in dir, which must
// not exist yet or be empty. The caller closes the Appender and removes
// dir.
func Open(impl Impl, dir string) (Appender, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	switch impl {
	case Continuity:
		return openContinuity(dir, false)
	case ContinuityRetention:
		return openContinuity(dir, true)
	case Tidwall:
		return openTidwall(dir)
	case TidwallGroup:
		return openTidwallGroup(dir)
	case Etcd:
		return openEtcd(dir)
	case EtcdGroup:
		return openEtcdGroup(dir)
	default:
		return nil, fmt.Errorf("unknown implementation %q", impl)
	}
}
