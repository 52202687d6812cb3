package wal

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	goleak.VerifyTestMain(m)
}

// payload returns deterministic test data for lsn.
func payload(lsn LSN, n int) []byte {
	b := make([]byte, n)
	x := uint64(lsn)*0x9e3779b97f4a7c15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

func sizeFor(lsn LSN) int { return int(uint64(lsn)*7919%600) + 1 }

func openT(t *testing.T, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

func appendN(t *testing.T, l *Log, n int) {
	t.Helper()
	for range n {
		next := l.Last() + 1
		_, last, err := l.Append(t.Context(), payload(next, sizeFor(next)))
		require.NoError(t, err)
		require.Equal(t, next, last)
	}
}

// readAll reads [from, Last()] and checks every record's payload.
func readAll(t *testing.T, l *Log, from LSN) []Record {
	t.Helper()
	r := l.NewReader(from)
	defer r.Close()
	var recs []Record
	last := l.Last()
	for lsn := from; lsn <= last; lsn++ {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		rec, err := r.Next(ctx)
		cancel()
		require.NoError(t, err, "LSN %d", lsn)
		require.Equal(t, lsn, rec.LSN)
		require.Equal(t, payload(lsn, sizeFor(lsn)), rec.Data, "LSN %d", lsn)
		recs = append(recs, rec)
	}
	return recs
}
