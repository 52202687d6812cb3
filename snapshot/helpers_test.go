package snapshot

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// gocloud's and opencensus' background workers.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
	)
}

var testKey = RawKey([32]byte{1, 2, 3})

// testFormat chunks small so tests exercise many chunks and packs quickly.
var testFormat = Format{ChunkMin: 2 << 10, ChunkAvg: 8 << 10, ChunkMax: 32 << 10}

func testOptions() Options {
	return Options{PackBytes: minPackBytes, Workers: 2, Uploads: 2}
}

func memBucket(t testing.TB) *blob.Bucket {
	b := memblob.OpenBucket(nil)
	t.Cleanup(func() { b.Close() })
	return b
}

func initRepo(t testing.TB, b *blob.Bucket, f Format) *Repo {
	t.Helper()
	r, err := Init(context.Background(), b, testKey, f, testOptions())
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

func save(t testing.TB, r *Repo, data []byte) (Manifest, Stats) {
	t.Helper()
	m, st, err := r.Save(context.Background(), bytes.NewReader(data), Meta{})
	require.NoError(t, err)
	return m, st
}

func restore(t testing.TB, r *Repo, id ID) []byte {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, r.Restore(context.Background(), id, &out))
	return out.Bytes()
}
