package failover

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"time"

	"github.com/continuity-go/continuity/wal"
)

// RejoinPoint is how far a node whose log was last written in epoch
// logEpoch keeps its log to follow the current history: the lowest fork of
// the epochs after logEpoch (records after it are a divergent tail: never
// on the winning history). ok is false if no later epoch exists (nothing
// to cut).
func (s State) RejoinPoint(logEpoch uint64) (point wal.LSN, ok bool) {
	for _, t := range s.Timeline {
		if t.Epoch > logEpoch && (!ok || t.Fork < point) {
			point, ok = t.Fork, true
		}
	}
	return point, ok
}

// Rejoin prepares a deposed primary's log to stream as a standby: the
// records after fork (its divergent tail) are copied into a quarantine
// file under dir, synced, for inspection, then cut off with
// wal.Log.CutTail. cut is how many records were cut and path the
// quarantine file's ("" if none). In sync mode none of them was
// acknowledged; in async mode they are the writes the fail-over lost, and
// the file is where an operator finds them.
func Rejoin(ctx context.Context, log *wal.Log, fork wal.LSN, dir string) (cut int, path string, err error) {
	last := log.Last()
	if fork >= last {
		return 0, "", nil
	}
	if fork+1 < log.First() {
		return 0, "", fmt.Errorf("failover: rejoin: the log starts at %d, after the fork at %d: bootstrap this node from the archive", log.First(), fork)
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return 0, "", err
	}
	path = filepath.Join(dir, fmt.Sprintf("quarantine-%016x-%016x-%s.jsonl", uint64(fork+1), uint64(last), time.Now().UTC().Format("20060102T150405Z")))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, fileMode)
	if err != nil {
		return 0, "", err
	}
	defer f.Close() // a second Close after the one below only returns an error
	// The whole tail goes into the file, which is synced (and its
	// directory) before CutTail cuts the log.
	cut, err = log.CutTail(ctx, fork, func(tail iter.Seq2[wal.Record, error]) error {
		w := bufio.NewWriter(f)
		enc := json.NewEncoder(w)
		for rec, err := range tail {
			if err != nil {
				return err
			}
			if err := enc.Encode(struct {
				LSN   wal.LSN   `json:"lsn"`
				Epoch uint64    `json:"epoch"`
				Time  time.Time `json:"time"`
				Data  []byte    `json:"data"`
			}{rec.LSN, rec.Epoch, rec.Time, rec.Data}); err != nil {
				return err
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		d, err := os.Open(dir)
		if err != nil {
			return err
		}
		defer d.Close()
		return d.Sync()
	})
	if err != nil {
		return 0, path, fmt.Errorf("failover: rejoin: cut the log after %d (the tail is saved in %s): %w", fork, path, err)
	}
	return cut, path, nil
}
