package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/continuity-go/continuity/wal"
)

// CaptureFunc captures the host's state for a base snapshot: it returns
// the LSN of the last record folded into the state and a function that
// writes that state (the library calls it once, streaming into the
// snapshot repository). Capture must be quick and consistent (copy or
// freeze the state under the host's lock); write may take long.
type CaptureFunc func(ctx context.Context) (lsn wal.LSN, write func(w io.Writer) error, err error)

// Options configures an Archiver. The zero value gives the
// documented defaults; Validate reports invalid fields.
type Options struct {
	// ShipInterval bounds how far the archive lags a live primary:
	// pending records are uploaded once the oldest is ShipInterval/2
	// old, so that with uploads faster than ShipInterval/2 no record
	// reaches the archive later than ShipInterval after its append.
	// Default 1 s.
	ShipInterval time.Duration
	// IdleShipInterval, if set (at least ShipInterval), lengthens the
	// interval while the log is quiet: a batch smaller than IdleBytes
	// ships once its oldest record is IdleShipInterval/2 old (or it
	// grows past IdleBytes, or a Flush or Sync asks), so a trickle of
	// writes costs a PUT per IdleShipInterval/2 instead of one per
	// ShipInterval/2. The archive then lags by at most IdleShipInterval:
	// the bound to promise (Status.Bound). 0: off.
	IdleShipInterval time.Duration
	// IdleBytes is the batch size below which the log counts as quiet
	// for IdleShipInterval. Default 64 KiB.
	IdleBytes int
	// MaxObjectBytes makes the archiver upload earlier once this many
	// bytes of records are pending; it is also the size of objects while
	// catching up. Default 8 MiB.
	MaxObjectBytes int
	// Uploads is how many uploads run at once when the archive is behind
	// (after an outage, or on start). Default 4.
	Uploads int
	// Compaction lists the windows at which objects are merged: every
	// object whose first record falls in one closed window of
	// Compaction[i] becomes one object (as long as it stays under
	// MaxCompactedBytes), and the pieces are deleted. Compaction runs every
	// Compaction[0]. Default 5 min, 1 h: within 1% of the fewest S3
	// requests at 10 to 10,000 events/s (bench/README.md, cost suite).
	Compaction []time.Duration
	// Opaque, if set, says how many of a record's last bytes are
	// ciphertext, or otherwise beyond compression: WAL objects store
	// them as they are and compress the rest (a tenant's sealed events:
	// tenant.Ciphertext). Compressing ciphertext costs CPU and saves
	// nothing. It must depend on the record alone. nil: the whole object
	// is compressed.
	Opaque func(wal.Record) int
	// NoCompaction turns compaction off (Compact can still be called).
	NoCompaction bool
	// MaxCompactedBytes bounds an object compaction makes (and so the memory a merge takes: it holds the records it merges). Default 32 MiB.
	MaxCompactedBytes int64

	// Capture, with SnapshotEvery or SnapshotEveryBytes, takes base
	// snapshots on a schedule: every SnapshotEvery, or once the archive
	// has grown by SnapshotEveryBytes of records since the last one,
	// whichever comes first. SnapshotNow takes one at once.
	Capture            CaptureFunc
	SnapshotEvery      time.Duration // period of base snapshots (0: none on a timer)
	SnapshotEveryBytes int64         // archived payload bytes between base snapshots (0: no byte trigger)

	// Holder names the archiver's hold on the log (wal.Log.Hold): records
	// not yet archived cannot be truncated. Default "archive".
	Holder string
	// LagWarning: a warning is logged, at most once per LagWarning, while
	// the oldest unarchived record is older than this (and than the
	// bound, IdleShipInterval). Default 10 s.
	LagWarning time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries of a
	// failed upload. Defaults 100 ms and 10 s.
	MinBackoff, MaxBackoff time.Duration
	// Copies are further destinations the archiver copies the archive
	// into (see Copy); the store must be a *snapshot.Repo.
	Copies []Copy
	// SyncCopies is how many of the Copies Sync waits for besides the
	// archive (0: none).
	SyncCopies int
	// SealedPrefix says how long the clear prefix of a sealed object in
	// the store is, by name, for Copies to authenticate what they copy
	// (as snapshot.CopyOptions.SealedPrefix). Default SealedPrefixLen,
	// which knows only the archive's own objects.
	SealedPrefix func(name string) (int, bool)
	// OnUpload, if set, is called after each object lands in the bucket
	// (from the uploading goroutine; keep it quick), for metrics.
	OnUpload func(UploadEvent)
	// Logger receives warnings (uploads failing, lag) and info (resumed,
	// compacted). Default slog.Default().
	Logger *slog.Logger
	// Now is the clock for lag and compaction windows. Default time.Now.
	Now func() time.Time
}

// withDefaults returns a copy of o with every zero (or negative) field
// set to its documented default. The copy has its own Compaction slice.
func (o Options) withDefaults() Options {
	if o.ShipInterval <= 0 {
		o.ShipInterval = time.Second
	}
	if o.IdleBytes <= 0 {
		o.IdleBytes = 64 << 10
	}
	if o.MaxObjectBytes <= 0 {
		o.MaxObjectBytes = 8 << 20
	}
	if o.Uploads <= 0 {
		o.Uploads = 4
	}
	if o.Compaction == nil {
		o.Compaction = []time.Duration{5 * time.Minute, time.Hour}
	} else {
		o.Compaction = slices.Clone(o.Compaction)
	}
	if o.MaxCompactedBytes <= 0 {
		o.MaxCompactedBytes = 32 << 20
	}
	if o.Holder == "" {
		o.Holder = "archive"
	}
	if o.LagWarning <= 0 {
		o.LagWarning = 10 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SealedPrefix == nil {
		o.SealedPrefix = SealedPrefixLen
	}
	o.Copies = slices.Clone(o.Copies)
	for i := range o.Copies {
		if o.Copies[i].Every <= 0 {
			o.Copies[i].Every = 10 * time.Minute
		}
	}
	return o
}

// Validate reports every invalid field of o, after defaults are applied,
// joined with errors.Join; nil if o is usable.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	if len(o.Compaction) == 0 && !o.NoCompaction {
		errs = append(errs, errors.New("archive: Options.Compaction is empty; set NoCompaction instead"))
	}
	for i, w := range o.Compaction {
		if w <= 0 {
			// A window divides record times and the first is a ticker's
			// period: either would panic.
			errs = append(errs, fmt.Errorf("archive: Options.Compaction[%d] %v is not positive", i, w))
		}
	}
	if o.IdleShipInterval != 0 && o.IdleShipInterval < o.ShipInterval {
		errs = append(errs, fmt.Errorf("archive: Options.IdleShipInterval %v is shorter than ShipInterval %v", o.IdleShipInterval, o.ShipInterval))
	}
	if o.SyncCopies < 0 || o.SyncCopies > len(o.Copies) {
		errs = append(errs, fmt.Errorf("archive: Options.SyncCopies %d: there are %d Copies", o.SyncCopies, len(o.Copies)))
	}
	for _, err := range validateCopies(o.Copies) {
		errs = append(errs, fmt.Errorf("archive: Options.%w", err))
	}
	return errors.Join(errs...)
}

// bound is how far the archive may lag a live primary while uploads
// keep up: IdleShipInterval if set, else ShipInterval.
func (o *Options) bound() time.Duration { return max(o.ShipInterval, o.IdleShipInterval) }

// UploadEvent describes one object the archiver stored.
type UploadEvent struct {
	Object      string        // the object's name
	First, Last wal.LSN       // the records it holds
	Bytes       int           // object size
	Duration    time.Duration // the upload, including retries
	Failures    int           // failed attempts before it landed
	// Archived is the archive's contiguous end after this upload: every
	// record up to it is in the bucket (uploads may land out of order).
	Archived wal.LSN
	At       time.Time // when it landed (Options.Now)
}
