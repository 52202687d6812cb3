package continuity

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestArchiveSync: with Config.ArchiveSync every Append returns only once
// its record is in the archive (the archiver's Archived has reached it
// when Append returns), from 64 concurrent writers, who share uploads;
// the archive then restores every record without a flush.
//
// With ArchiveSyncCopies 1 and a copy, the copy holds it as well.
func TestArchiveSync(t *testing.T) {
	t.Run("archive", func(t *testing.T) { archiveSync(t, false) })
	t.Run("copy", func(t *testing.T) { archiveSync(t, true) })
}

func archiveSync(t *testing.T, withCopy bool) {
	ctx := context.Background()
	cfg := Config{Dir: t.TempDir(), Logger: quiet, ArchiveSync: true, SnapshotEvery: -1, SnapshotEveryBytes: -1, VerifyEvery: -1}
	if withCopy {
		cfg.Copies = []CopyConfig{{Name: "off-site", URL: "file://" + filepath.ToSlash(t.TempDir())}}
		cfg.ArchiveSyncCopies = 1
	}
	n, err := Open(ctx, cfg, &kv{})
	require.NoError(t, err)
	defer n.Close()
	const writers, each = 64, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				_, last, err := n.Append(ctx, fmt.Appendf(nil, "w%d=%d", w, i))
				if err != nil {
					errs <- err
					return
				}
				st := n.Status()
				if got := st.Archive.Archived; got < last {
					errs <- fmt.Errorf("Append of LSN %d returned with the archive at LSN %d", last, got)
					return
				}
				if withCopy && st.Copies[0].Archived < last {
					errs <- fmt.Errorf("Append of LSN %d returned with the copy at LSN %d", last, st.Copies[0].Archived)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := n.Status().Archive
	// How many appends share an upload depends on the machine: logged,
	// not asserted.
	t.Logf("%d appends from %d writers in %d uploads", writers*each, writers, st.Objects)
	var sm kv
	res, err := n.RestoreTo(ctx, Target{}, &sm)
	require.NoError(t, err)
	assert.Equal(t, LSN(writers*each), res.LSN, "the archive holds every acknowledged record")
}
