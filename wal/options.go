package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/continuity-go/continuity/internal/vfs"
)

// Durability says when Append and Write return.
type Durability int

const (
	// SyncBatch (the default) makes every batch durable with fdatasync
	// before any Append in it returns: an acknowledged record survives
	// power loss. Concurrent appends share one write and one sync (group
	// commit).
	SyncBatch Durability = iota

	// SyncInterval returns once the batch is written to the operating
	// system and syncs at most Options.SyncInterval later. Acknowledged
	// records survive a crash of the process, but power loss or a kernel
	// crash may lose the last SyncInterval of them.
	SyncInterval

	// NoSync never syncs except when a segment is sealed and on Close.
	// For tests and benchmarks.
	NoSync
)

// String returns the mode's name, as used in logs and benchmark names.
func (d Durability) String() string {
	switch d {
	case SyncBatch:
		return "sync-batch"
	case SyncInterval:
		return "sync-interval"
	case NoSync:
		return "no-sync"
	default:
		return fmt.Sprintf("Durability(%d)", int(d))
	}
}

// Options configures a Log. The zero value is ready to use: every zero
// field takes the default given in its comment.
type Options struct {
	// SegmentBytes is the size at which the log starts a new segment file;
	// segments are preallocated to this size. A record larger than it
	// gets a segment of its own. Default 64 MiB, minimum 4 KiB.
	SegmentBytes int64

	// MaxRecordBytes is the largest payload Append and Write accept.
	// Default 16 MiB, maximum 1 GiB.
	MaxRecordBytes int

	// MaxBatchBytes bounds the bytes one group commit writes at once;
	// concurrent appends beyond it wait for the next batch. A single
	// larger record is still written whole. Default 4 MiB.
	MaxBatchBytes int

	// Durability says when Append returns. Default SyncBatch.
	Durability Durability

	// SyncInterval is the longest a written record stays unsynced under
	// Durability SyncInterval. Default 100 ms; ignored otherwise.
	SyncInterval time.Duration

	// DisablePreallocation makes new segments grow by appending instead
	// of overwriting zero-filled space, and turns segment recycling off.
	// Preallocation costs one background write of SegmentBytes per
	// segment (none when TruncateFront released a file to reuse) and
	// makes each sync cheaper (no size change to journal): about 2x more
	// synced appends per second on ext4.
	DisablePreallocation bool

	// Now is the clock that timestamps appended records. Default
	// time.Now. Record times never decrease within a log, even if the
	// clock steps back.
	Now func() time.Time

	// Logger receives lifecycle and recovery messages. Default: discard.
	Logger *slog.Logger

	// FS is the file system the log lives on. Default: the operating
	// system's. Tests inside this module inject faults through it.
	FS vfs.FS
}

const (
	defaultSegmentBytes   = 64 << 20
	minSegmentBytes       = 4 << 10
	defaultMaxRecordBytes = 16 << 20
	defaultMaxBatchBytes  = 4 << 20
	defaultSyncInterval   = 100 * time.Millisecond
)

// withDefaults returns a copy of o with every zero field set to its
// default.
func (o Options) withDefaults() Options {
	if o.SegmentBytes == 0 {
		// 64 MiB, as etcd: large enough that the background zero-fill
		// and the roll (one header write, rename and directory sync) are
		// rare, small enough that TruncateFront frees space in useful
		// steps.
		o.SegmentBytes = defaultSegmentBytes
	}
	if o.MaxRecordBytes == 0 {
		o.MaxRecordBytes = defaultMaxRecordBytes
	}
	if o.MaxBatchBytes == 0 {
		// Beyond a few MiB a sync's cost grows with its size, so bigger
		// batches add latency without adding throughput.
		o.MaxBatchBytes = defaultMaxBatchBytes
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = defaultSyncInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FS == nil {
		o.FS = vfs.Default()
	}
	return o
}

// Validate reports every invalid field of o, after defaults are applied.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	if o.SegmentBytes < minSegmentBytes {
		errs = append(errs, fmt.Errorf("wal: Options.SegmentBytes %d is below the minimum %d", o.SegmentBytes, minSegmentBytes))
	}
	if o.MaxRecordBytes < 0 || o.MaxRecordBytes > maxPayloadBytes {
		errs = append(errs, fmt.Errorf("wal: Options.MaxRecordBytes %d is outside [1, %d]", o.MaxRecordBytes, maxPayloadBytes))
	}
	if o.MaxBatchBytes < 0 {
		errs = append(errs, fmt.Errorf("wal: Options.MaxBatchBytes %d is negative", o.MaxBatchBytes))
	}
	if o.Durability < SyncBatch || o.Durability > NoSync {
		errs = append(errs, fmt.Errorf("wal: Options.Durability %v is unknown", o.Durability))
	}
	if o.SyncInterval < 0 {
		errs = append(errs, fmt.Errorf("wal: Options.SyncInterval %v is negative", o.SyncInterval))
	}
	return errors.Join(errs...)
}
