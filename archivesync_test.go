package continuity

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestArchiveSync: with Config.ArchiveSync every Append returns only once
// its record is in the archive (the archiver's Archived has reached it
// when Append returns), from 64 concurrent writers, who share uploads;
// the archive then restores every record without a flush.
func TestArchiveSync(t *testing.T) {
	ctx := context.Background()
	n, err := Open(ctx, Config{Dir: t.TempDir(), Logger: quiet, ArchiveSync: true, SnapshotEvery: -1, SnapshotEveryBytes: -1, VerifyEvery: -1}, &kv{})
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
				if got := n.Status().Archive.Archived; got < last {
					errs <- fmt.Errorf("Append of LSN %d returned with the archive at LSN %d", last, got)
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
