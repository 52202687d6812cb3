package handshake

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/continuity-go/continuity/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLimiter(t *testing.T) {
	type step struct {
		release bool
		src     string
		want    bool // acquire's result
	}
	cases := []struct {
		name  string
		max   int
		per   int
		steps []step
	}{
		{"per source", 10, 2, []step{
			{src: "a", want: true}, {src: "a", want: true}, {src: "a", want: false},
			{src: "b", want: true}, {src: "b", want: true}, {src: "b", want: false},
			{release: true, src: "a"}, {src: "a", want: true}, {src: "a", want: false},
		}},
		{"overall", 3, 2, []step{
			{src: "a", want: true}, {src: "b", want: true}, {src: "c", want: true},
			{src: "d", want: false}, {src: "a", want: false},
			{release: true, src: "b"}, {src: "d", want: true}, {src: "e", want: false},
		}},
		{"a refused acquire takes no slot", 2, 1, []step{
			{src: "a", want: true}, {src: "a", want: false}, {src: "a", want: false},
			{src: "b", want: true}, {release: true, src: "a"}, {release: true, src: "b"},
			{src: "a", want: true}, {src: "b", want: true},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(tc.max, tc.per)
			for i, s := range tc.steps {
				if s.release {
					l.release(s.src)
					continue
				}
				assert.Equal(t, s.want, l.acquire(s.src), "step %d: acquire(%q)", i, s.src)
			}
		})
	}
	t.Run("released sources are forgotten", func(t *testing.T) {
		l := newLimiter(4, 4)
		require.True(t, l.acquire("a"))
		l.release("a")
		assert.Empty(t, l.by)
		assert.Zero(t, l.total)
	})
}

// byteConn is a connection whose handshake was reading one byte.
type byteConn struct{ net.Conn }

// readByte is a handshake that succeeds once the client sends a byte,
// reporting each start on started.
func readByte(started chan<- net.Addr) Func[byteConn] {
	return func(ctx context.Context, c net.Conn) (byteConn, error) {
		started <- c.RemoteAddr()
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return byteConn{}, err
		}
		return byteConn{c}, nil
	}
}

// dialFrom connects to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: time.Minute}
	c, err := d.Dial("tcp", addr)
	if err != nil && src != "127.0.0.1" {
		t.Skipf("cannot dial from %s (loopback aliases): %v", src, err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// recv receives from ch, failing the test after EventuallyTimeout (a
// bound on a hang).
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testkit.EventuallyTimeout):
		t.Fatal("nothing received")
		panic("unreachable")
	}
}

// requireClosedByServer waits for the server to close c.
func requireClosedByServer(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(testkit.EventuallyTimeout))
	_, err := c.Read(make([]byte, 1))
	require.Error(t, err, "the server closes the connection")
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server did not close the connection: %v", err)
}

func listen(t *testing.T, hs Func[byteConn], o Options) (*Listener[byteConn], chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := make(chan error, 100)
	o.OnRefused = func(_ net.Addr, err error) { refused <- err }
	l, err := New(ln, hs, o)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l, refused
}

func TestCaps(t *testing.T) {
	started := make(chan net.Addr, 16)
	l, refused := listen(t, readByte(started), Options{MaxPending: 3, MaxPendingPerSource: 2, Timeout: time.Hour})
	addr := l.Addr().String()

	a1 := dialFrom(t, "127.0.0.1", addr)
	recv(t, started)
	a2 := dialFrom(t, "127.0.0.1", addr)
	recv(t, started)
	a3 := dialFrom(t, "127.0.0.1", addr)
	require.ErrorIs(t, recv(t, refused), ErrOverLimit, "a third from one source is over the per-source cap")
	requireClosedByServer(t, a3)

	b1 := dialFrom(t, "127.0.0.2", addr)
	recv(t, started)
	b2 := dialFrom(t, "127.0.0.2", addr)
	require.ErrorIs(t, recv(t, refused), ErrOverLimit, "a fourth is over the overall cap")
	requireClosedByServer(t, b2)
	assert.Equal(t, uint64(2), l.Refused())

	// A finished handshake frees its slot.
	_, err := a1.Write([]byte{1})
	require.NoError(t, err)
	got, err := l.Accept(t.Context())
	require.NoError(t, err)
	got.Close()
	// Its goroutine gives the slot back after Accept took the connection.
	testkit.Eventually(t, func() bool {
		l.lim.mu.Lock()
		defer l.lim.mu.Unlock()
		return l.lim.total < 3
	}, "a1's slot is free")
	b3 := dialFrom(t, "127.0.0.2", addr)
	recv(t, started)
	for _, c := range []net.Conn{a2, b1, b3} {
		_, err := c.Write([]byte{1})
		require.NoError(t, err)
		got, err := l.Accept(t.Context())
		require.NoError(t, err)
		got.Close()
	}
	assert.Equal(t, uint64(2), l.Refused())
}

func TestTimeout(t *testing.T) {
	started := make(chan net.Addr, 16)
	l, refused := listen(t, readByte(started), Options{Timeout: 100 * time.Millisecond})
	idle := dialFrom(t, "127.0.0.1", l.Addr().String())
	recv(t, started)
	require.ErrorIs(t, recv(t, refused), ErrTimeout)
	requireClosedByServer(t, idle)
	assert.Equal(t, uint64(1), l.Refused())
}

func TestFailedHandshakeIsRefused(t *testing.T) {
	bad := errors.New("bad certificate")
	l, refused := listen(t, func(ctx context.Context, c net.Conn) (byteConn, error) {
		return byteConn{}, bad
	}, Options{})
	c := dialFrom(t, "127.0.0.1", l.Addr().String())
	require.ErrorIs(t, recv(t, refused), bad)
	requireClosedByServer(t, c)
	assert.Equal(t, uint64(1), l.Refused())
}

// TestCloseStopsPendingHandshakes: a handshake blocked in a read that
// ignores ctx returns when the listener closes (goleak checks that no
// goroutine is left), and Accept then reports ErrClosed.
func TestCloseStopsPendingHandshakes(t *testing.T) {
	started := make(chan net.Addr, 16)
	l, refused := listen(t, readByte(started), Options{Timeout: time.Hour})
	for range 5 {
		dialFrom(t, "127.0.0.1", l.Addr().String())
		recv(t, started)
	}
	accepted := make(chan error, 1)
	go func() {
		_, err := l.Accept(context.Background())
		accepted <- err
	}()
	require.NoError(t, l.Close())
	require.ErrorIs(t, recv(t, accepted), ErrClosed)
	assert.Empty(t, refused, "closing refuses nothing")
	require.NoError(t, l.Close(), "twice")
}

func TestWarnsAreRateLimited(t *testing.T) {
	var logs testkit.SyncBuffer
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	o := Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}}
	l, _ := listen(t, readByte(make(chan net.Addr, 1)), o)
	remote := &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 9}
	for range 5 {
		l.refuse(remote, ErrOverLimit)
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "handshakes refused"), "one Warn for a burst: %s", logs.String())
	mu.Lock()
	now = now.Add(10 * time.Second)
	mu.Unlock()
	l.refuse(remote, ErrOverLimit)
	out := logs.String()
	assert.Equal(t, 2, strings.Count(out, "handshakes refused"), out)
	assert.Contains(t, out, "count=5", "the second Warn counts the refusals since the first")
	assert.Contains(t, out, "last_remote=192.0.2.1:9")
	assert.Equal(t, uint64(6), l.Refused())
}

func TestOptionsValidate(t *testing.T) {
	err := Options{Timeout: -1, MaxPending: -1, MaxPendingPerSource: -1, WarnInterval: -1}.Validate()
	for _, f := range []string{"Timeout", "MaxPending", "MaxPendingPerSource", "WarnInterval"} {
		assert.ErrorContains(t, err, "Options."+f)
	}
	assert.NoError(t, Options{}.Validate())
}
