package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/localblob"
	"github.com/continuity-go/continuity/snapshot"
)

// runOurs runs steps with continuity in a new repository in a localblob
// bucket at dir: Save of f.base (first), of f.edited (edited, then
// unchanged), and Restore of the last snapshot to /dev/null. Each step is
// timed alone, from a collected heap; the bucket's growth is measured by
// listing it.
func runOurs(ctx context.Context, dir string, codec snapshot.Codec, workers int, steps []step, f dataFiles) (map[step]stepResult, error) {
	// localblob, the driver of the library's default archive: like a
	// restic repository's files, its objects are plain files, each
	// fsynced before the write returns, and Restore reads ranges of
	// packs it maps instead of copying them (internal/blobview).
	bucket, err := localblob.OpenBucket(dir, nil)
	if err != nil {
		return nil, err
	}
	defer bucket.Close()
	var key [32]byte
	rand.Read(key[:])
	repo, err := snapshot.Init(ctx, bucket, snapshot.RawKey(key), snapshot.Format{Codec: codec}, snapshot.Options{Workers: workers})
	if err != nil {
		return nil, err
	}
	defer repo.Close()
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	defer devNull.Close()

	out := map[step]stepResult{}
	var last snapshot.ID
	for _, s := range steps {
		before, err := bucketBytes(ctx, bucket)
		if err != nil {
			return nil, err
		}
		// A restore with n workers runs on n cores: its targets are
		// per core (its goroutines are not Workers, see Options.Uploads).
		procs := runtime.GOMAXPROCS(0)
		if s == stepRestore {
			runtime.GOMAXPROCS(min(workers, procs))
		}
		freeMemory()
		cpu0 := benchkit.CPUTime()
		start := time.Now()
		var sr stepResult
		switch s {
		case stepFirst, stepEdited, stepUnchanged:
			name := f.edited
			if s == stepFirst {
				name = f.base
			}
			var m snapshot.Manifest
			var st snapshot.Stats
			m, st, err = saveFile(ctx, repo, name)
			last, sr.newBytes = m.ID, st.NewBytes
		case stepRestore:
			err = repo.Restore(ctx, last, devNull)
		default:
			err = fmt.Errorf("continuity has no step %q", s)
		}
		sr.dur = time.Since(start)
		sr.cpu = benchkit.CPUTime() - cpu0
		runtime.GOMAXPROCS(procs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s, err)
		}
		after, err := bucketBytes(ctx, bucket)
		if err != nil {
			return nil, err
		}
		sr.stored = after - before
		out[s] = sr
	}
	return out, nil
}

func saveFile(ctx context.Context, repo *snapshot.Repo, name string) (snapshot.Manifest, snapshot.Stats, error) {
	f, err := os.Open(name)
	if err != nil {
		return snapshot.Manifest{}, snapshot.Stats{}, err
	}
	defer f.Close()
	return repo.Save(ctx, f, snapshot.Meta{})
}

// bucketBytes sums the sizes of every object in bucket.
func bucketBytes(ctx context.Context, bucket *blob.Bucket) (int64, error) {
	var n int64
	it := bucket.List(nil)
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("list bucket: %w", err)
		}
		n += obj.Size
	}
}
