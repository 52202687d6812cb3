package snapshot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/continuity-go/continuity/internal/cdc"
)

// Codec is the compression applied to each stored blob. It is chosen when
// the repository is created and recorded per blob, so blobs of several
// codecs can live in one repository.
type Codec byte

const (
	// LZ4 (the default) compresses event-like data about 3.5x at several
	// hundred MB/s per core and decompresses at several GB/s: the hot path.
	LZ4 Codec = Codec(codecLZ4)
	// Zstd compresses about 1.4x smaller than LZ4 on event data at a
	// fraction of its speed: for long-term archive repositories.
	Zstd Codec = Codec(codecZstd)
)

// String returns the codec's name.
func (c Codec) String() string {
	switch c {
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	case Codec(codecRaw):
		return "raw"
	}
	return fmt.Sprintf("Codec(%d)", byte(c))
}

// Format holds the choices fixed when a repository is created by Init.
// They are stored in its config object; Open reads them from there.
type Format struct {
	// ChunkMin, ChunkAvg and ChunkMax are the content-defined chunker's
	// bounds in bytes. Zero takes the defaults of the chunker
	// (cdc.DefaultParams): see the package documentation for why.
	ChunkMin, ChunkAvg, ChunkMax int
	// Codec compresses every blob. Default LZ4.
	Codec Codec
}

func (f Format) withDefaults() Format {
	d := cdc.DefaultParams()
	if f.ChunkMin == 0 && f.ChunkAvg == 0 && f.ChunkMax == 0 {
		f.ChunkMin, f.ChunkAvg, f.ChunkMax = d.Min, d.Avg, d.Max
	}
	if f.Codec == 0 {
		f.Codec = LZ4
	}
	return f
}

// Validate reports every invalid field.
func (f Format) Validate() error {
	f = f.withDefaults()
	var errs []error
	if err := (cdc.Params{Min: f.ChunkMin, Avg: f.ChunkAvg, Max: f.ChunkMax}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("snapshot: Format.Chunk*: %w", err))
	}
	if f.ChunkMax > maxChunk {
		errs = append(errs, fmt.Errorf("snapshot: Format.ChunkMax %d exceeds %d", f.ChunkMax, maxChunk))
	}
	if f.Codec != LZ4 && f.Codec != Zstd {
		errs = append(errs, fmt.Errorf("snapshot: Format.Codec %v: want LZ4 or Zstd", f.Codec))
	}
	return errors.Join(errs...)
}

// Progress reports a long operation's advance to Options.Progress.
type Progress struct {
	// Op is "save", "restore", "verify", "prune" or "reencrypt".
	Op string
	// Bytes is how many bytes were processed so far (state bytes for
	// save and restore, object bytes for verify and prune).
	Bytes int64
	// Total is the bytes expected, or -1 when unknown (a save reads a
	// stream of unknown length).
	Total int64
	// Done is set on the last report of the operation.
	Done bool
}

// Options configures a Repo. The zero value is ready to use.
type Options struct {
	// PackBytes is the size at which a pack object is closed and
	// uploaded. Object stores charge per request and dislike millions of
	// small objects; restores read ranges of packs, so larger packs cost
	// nothing there. Default 16 MiB; minimum 64 KiB.
	PackBytes int

	// Workers is how many goroutines hash, compress and encrypt during
	// Save and decrypt, decompress and verify during Restore. Default
	// runtime.GOMAXPROCS(0).
	Workers int

	// Uploads bounds concurrent pack uploads in Save (each queued or
	// running upload holds one pack in memory); Restore downloads with
	// max(Workers, Uploads) goroutines. Default 4.
	Uploads int

	// LockStale is how old a lock object may grow without being refreshed
	// before other processes ignore it (its holder is presumed dead).
	// Holders refresh every LockStale/4 and give up their operation when
	// their lock is LockStale/2 old; host clocks must agree to within
	// LockStale/2. Default 30 minutes.
	LockStale time.Duration

	// ReadOnly opens the repository without writing to it: Restore,
	// Verify, List and Manifest work, and take no lock (so a Prune
	// elsewhere may pull packs from under them); everything that writes
	// returns ErrReadOnly. For restores with read-only credentials, or
	// from an immutable copy of the bucket.
	ReadOnly bool

	// Hostname is recorded in manifests and locks. Default os.Hostname.
	Hostname string

	// Progress, if set, is called with the progress of Save, Restore,
	// Verify and Prune about once per ProgressInterval and once at the
	// end, from one goroutine at a time. It must not block.
	Progress func(Progress)

	// ProgressInterval is the least time between two Progress calls.
	// Default 1 s.
	ProgressInterval time.Duration

	// Now is the clock for manifest times and locks. Default time.Now.
	Now func() time.Time

	// UploadLimit caps the pack bytes per second Save and Prune upload
	// (a token bucket holding one second's worth); 0 is no limit.
	// Nothing else is throttled: the WAL objects, indexes and manifests
	// of package archive go out at once. ReadLimit caps the pack bytes
	// per second Verify (ReadData) and Prune read; Restore is never
	// throttled.
	UploadLimit, ReadLimit int64

	// Sleep is how the limits wait. Default a timer; tests pass a clock.
	Sleep func(ctx context.Context, d time.Duration) error

	// ObjectLock, if set, writes the history under S3 Object Lock (see
	// ObjectLock). Open fails unless the bucket is S3 with Object Lock
	// enabled.
	ObjectLock *ObjectLock

	// Logger receives lifecycle logs. nil discards them.
	Logger *slog.Logger

	// MaxKeySlots is how many key slots of the provider's kind Open
	// tries, newest first. If none of them opens and the repository
	// holds more, Open returns ErrTooManySlots rather than trying the
	// rest: a passphrase slot costs an argon2id derivation (up to
	// MaxPassphraseParams) per try, and anyone who can write to the
	// bucket can plant slots. Default 16; at most 1024.
	MaxKeySlots int

	// LockWait bounds how long an operation waits for a conflicting
	// lock (another process's Save, Prune, Reencrypt…) before it fails
	// with ErrLocked; 0 waits as long as the context allows. A command
	// line tool sets it short: a lock left by a killed process stays
	// until LockStale, and Unlock removes it.
	LockWait time.Duration

	// KeyCheckInterval is how often a writing Repo looks for a key epoch
	// another process started (RotateMaster), at most: it seals nothing
	// under keys older than that. Reencrypt retires an epoch only once
	// the epoch after it is twice this old, so every process must use
	// the same value. Default 1 minute (one LIST per minute).
	KeyCheckInterval time.Duration
}

const (
	defaultPackBytes   = 16 << 20
	minPackBytes       = 64 << 10
	defaultMaxKeySlots = 16
	maxMaxKeySlots     = 1024
)

func (o Options) withDefaults() Options {
	if o.PackBytes == 0 {
		o.PackBytes = defaultPackBytes
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Uploads == 0 {
		o.Uploads = 4
	}
	if o.LockStale == 0 {
		o.LockStale = 30 * time.Minute
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
	}
	if o.ProgressInterval == 0 {
		o.ProgressInterval = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.KeyCheckInterval == 0 {
		o.KeyCheckInterval = time.Minute
	}
	if o.MaxKeySlots == 0 {
		// Far more than a repository needs (a host key, a recovery
		// passphrase, a KMS key, and their rotations), few enough that
		// trying them all at the argon2id cap stays within a minute.
		o.MaxKeySlots = defaultMaxKeySlots
	}
	return o
}

// Validate reports every invalid field.
func (o Options) Validate() error {
	var errs []error
	if o.PackBytes != 0 && (o.PackBytes < minPackBytes || o.PackBytes > 1<<30) {
		errs = append(errs, fmt.Errorf("snapshot: Options.PackBytes %d: want 64 KiB to 1 GiB", o.PackBytes))
	}
	if o.LockWait < 0 {
		errs = append(errs, fmt.Errorf("snapshot: Options.LockWait %v: want 0 (as long as the context allows) or more", o.LockWait))
	}
	if o.KeyCheckInterval < 0 {
		errs = append(errs, fmt.Errorf("snapshot: Options.KeyCheckInterval %v: want 0 (default) or more", o.KeyCheckInterval))
	}
	if o.Workers < 0 || o.Workers > 1024 {
		errs = append(errs, fmt.Errorf("snapshot: Options.Workers %d: want 0 (default) to 1024", o.Workers))
	}
	if o.Uploads < 0 || o.Uploads > 256 {
		errs = append(errs, fmt.Errorf("snapshot: Options.Uploads %d: want 0 (default) to 256", o.Uploads))
	}
	if o.LockStale < 0 || (o.LockStale > 0 && o.LockStale < time.Second) {
		errs = append(errs, fmt.Errorf("snapshot: Options.LockStale %v: want at least 1s", o.LockStale))
	}
	if o.MaxKeySlots < 0 || o.MaxKeySlots > maxMaxKeySlots {
		errs = append(errs, fmt.Errorf("snapshot: Options.MaxKeySlots %d: want 0 (default) to %d", o.MaxKeySlots, maxMaxKeySlots))
	}
	if o.UploadLimit < 0 || o.UploadLimit > 0 && o.UploadLimit < minLimit {
		errs = append(errs, fmt.Errorf("snapshot: Options.UploadLimit %d B/s: want 0 (no limit) or at least %d", o.UploadLimit, minLimit))
	}
	if o.ReadLimit < 0 || o.ReadLimit > 0 && o.ReadLimit < minLimit {
		errs = append(errs, fmt.Errorf("snapshot: Options.ReadLimit %d B/s: want 0 (no limit) or at least %d", o.ReadLimit, minLimit))
	}
	if err := o.ObjectLock.validate(); err != nil {
		errs = append(errs, err)
	}
	if o.ProgressInterval < 0 {
		errs = append(errs, fmt.Errorf("snapshot: Options.ProgressInterval %v is negative", o.ProgressInterval))
	}
	return errors.Join(errs...)
}
