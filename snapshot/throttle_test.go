package snapshot

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
)

// TestLimits: a Save under UploadLimit and a Verify under ReadLimit move
// their pack bytes at their limits, within 10% (the bucket's first
// second of burst included), on a test clock that Sleep moves; without
// limits nothing sleeps.
func TestLimits(t *testing.T) {
	const limit = 1 << 20
	ctx := context.Background()
	clock := testkit.NewClock()
	var slept time.Duration
	opts := testOptions()
	opts.Uploads = 1 // one uploader: each sleep follows the last on the clock
	opts.Now = clock.Now
	opts.Sleep = func(_ context.Context, d time.Duration) error { slept += d; clock.Add(d); return nil }
	b := memBucket(t)
	plain, err := Init(ctx, b, testKey, testFormat, opts)
	require.NoError(t, err)
	defer plain.Close()
	data := make([]byte, 24<<20)
	rand.Read(data) // incompressible: the packs are as large as the state
	_, st, err := plain.Save(ctx, bytes.NewReader(data), Meta{})
	require.NoError(t, err)
	_, err = plain.Verify(ctx, VerifyOptions{ReadData: true})
	require.NoError(t, err)
	assert.Zero(t, slept, "without limits nothing waits")

	opts.UploadLimit, opts.ReadLimit = limit, limit
	limited, err := Open(ctx, b, testKey, opts)
	require.NoError(t, err)
	defer limited.Close()
	rand.Read(data) // all new
	start := clock.Now()
	_, st, err = limited.Save(ctx, bytes.NewReader(data), Meta{})
	require.NoError(t, err)
	rate := float64(st.StoredBytes) / clock.Now().Sub(start).Seconds()
	t.Logf("Save: %d bytes in %v on the clock: %.0f B/s against %d", st.StoredBytes, clock.Now().Sub(start), rate, limit)
	assert.InEpsilon(t, float64(limit), rate, 0.10, "Save's upload rate")

	start = clock.Now()
	rep, err := limited.Verify(ctx, VerifyOptions{ReadData: true})
	require.NoError(t, err)
	require.True(t, rep.OK(), "%v", rep.Problems)
	rate = float64(rep.BytesRead) / clock.Now().Sub(start).Seconds()
	t.Logf("Verify: %d bytes in %v on the clock: %.0f B/s against %d", rep.BytesRead, clock.Now().Sub(start), rate, limit)
	assert.InEpsilon(t, float64(limit), rate, 0.10, "Verify's read rate")

	opts.UploadLimit = 1000
	_, err = Open(ctx, b, testKey, opts)
	assert.ErrorContains(t, err, "UploadLimit 1000 B/s")
}
