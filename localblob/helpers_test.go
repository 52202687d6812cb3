package localblob

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/internal/vfs"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		killChild(dir)
		return
	}
	goleak.VerifyTestMain(m)
}

// openFS opens the bucket at dir on fsys and closes it when the test
// ends.
func openFS(t testing.TB, fsys vfs.FS, dir string) *blob.Bucket {
	t.Helper()
	d, err := openBucket(dir, &Options{fs: fsys})
	require.NoError(t, err)
	b := blob.NewBucket(d)
	t.Cleanup(func() { b.Close() })
	return b
}

// listAll returns every key under prefix (no delimiter), in List order.
func listAll(ctx context.Context, b *blob.Bucket, prefix string) ([]string, error) {
	var keys []string
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return keys, nil
		}
		if err != nil {
			return nil, err
		}
		keys = append(keys, o.Key)
	}
}

// content is the deterministic content of key, n bytes long, with the key
// at its start so that a mix-up shows.
func content(key string, n int) []byte {
	b := make([]byte, n)
	x := uint64(len(key))*0x9e3779b97f4a7c15 + 1
	for i := range len(key) {
		x = (x ^ uint64(key[i])) * 0x100000001b3
	}
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	copy(b, key)
	return b
}
