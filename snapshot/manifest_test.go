package snapshot

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetaRoundTrip(t *testing.T) {
	r := initRepo(t, memBucket(t), testFormat)
	at := time.Date(2026, 11, 25, 10, 0, 0, 123, time.UTC)
	parent := ID{7}
	m, _, err := r.Save(context.Background(), strings.NewReader("state"), Meta{
		Time: at, Host: "node-2", Tags: []string{"hourly"}, Labels: map[string]string{"tenant": "t1"},
		Parent: parent, LSN: 99, Epoch: 4,
	})
	require.NoError(t, err)
	got, err := r.Manifest(context.Background(), m.ID)
	require.NoError(t, err)
	assert.Equal(t, at, got.Time)
	assert.Equal(t, "node-2", got.Host)
	assert.True(t, got.HasTag("hourly"))
	assert.Equal(t, "t1", got.Labels["tenant"])
	assert.Equal(t, parent, got.Parent)
	assert.Equal(t, uint64(99), got.LSN)
	assert.Equal(t, uint64(4), got.Epoch)
	latest, err := r.Latest(context.Background())
	require.NoError(t, err)
	assert.Equal(t, m.ID, latest.ID)
	id, err := ParseID(m.ID.String())
	require.NoError(t, err)
	assert.Equal(t, m.ID, id)
	_, err = ParseID("zz")
	assert.Error(t, err)
}
