package audit

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob/memblob"

	"github.com/continuity-go/continuity/snapshot"
)

// TestTrail: records read back as written, oldest first, from a time
// on; a planted record, or one copied under another name, is reported
// as damaged and not listed.
func TestTrail(t *testing.T) {
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	repo, err := snapshot.Init(ctx, b, snapshot.RawKey([32]byte{1}), snapshot.Format{}, snapshot.Options{})
	require.NoError(t, err)
	defer repo.Close()
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	first, err := Write(ctx, repo, Entry{Time: t0, Action: "tenant.create", Actor: "n1", Subject: "ab12", LSN: 7})
	require.NoError(t, err)
	_, err = Write(ctx, repo, Entry{Time: t0.Add(time.Minute), Action: "prune", Actor: "ctl@host", Details: map[string]string{"deleted": "3"}})
	require.NoError(t, err)
	_, err = Write(ctx, repo, Entry{Action: "bad-name"})
	require.Error(t, err, "an action with '-'")

	got, damaged, err := List(ctx, repo, time.Time{})
	require.NoError(t, err)
	assert.Empty(t, damaged)
	require.Len(t, got, 2)
	assert.Equal(t, "tenant.create", got[0].Action)
	assert.Equal(t, uint64(7), got[0].LSN)
	assert.Equal(t, first, got[0].Name)
	assert.Equal(t, "3", got[1].Details["deleted"])
	got, _, err = List(ctx, repo, t0.Add(30*time.Second))
	require.NoError(t, err)
	require.Len(t, got, 1, "records since a time")
	assert.Equal(t, "prune", got[0].Action)

	// A bucket writer plants a record, and copies a real one under
	// another name.
	require.NoError(t, b.WriteAll(ctx, Prefix+"0000000000000001-promote-00000000", []byte(`{"action":"promote"}`), nil))
	real, err := b.ReadAll(ctx, first)
	require.NoError(t, err)
	require.NoError(t, b.WriteAll(ctx, Prefix+"7000000000000000-tenant.create-00000000", real, nil))
	got, damaged, err = List(ctx, repo, time.Time{})
	require.NoError(t, err)
	assert.Len(t, got, 2, "only the real records are listed")
	assert.Len(t, damaged, 2, "the planted and the copied record")
}
