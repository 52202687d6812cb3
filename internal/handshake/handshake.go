package handshake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrClosed is returned by Accept once the listener is closed.
	ErrClosed = errors.New("handshake: listener closed")
	// ErrOverLimit is the cause given for a connection closed because
	// too many handshakes were in progress, overall or from its source.
	ErrOverLimit = errors.New("handshake: too many handshakes in progress")
	// ErrTimeout is the cause given for a connection whose handshake did
	// not finish within Options.Timeout.
	ErrTimeout = errors.New("handshake: timed out")
)

// Options configures a Listener. Zero values mean the defaults.
type Options struct {
	// Timeout bounds each connection's handshake, from accept to
	// delivery. Default 10 s.
	Timeout time.Duration
	// MaxPending is how many connections may be in the handshake at once;
	// more are closed at once. Default 64.
	MaxPending int
	// MaxPendingPerSource is how many connections from one source IP may
	// be in the handshake at once; more are closed at once. Default 8.
	MaxPendingPerSource int
	// WarnInterval is the least time between two Warns about refused
	// connections. Default 10 s.
	WarnInterval time.Duration
	// Logger receives the rate-limited Warns. nil discards them.
	Logger *slog.Logger
	// OnRefused, if set, is called with each refused connection's remote
	// address and the cause (wrapping ErrOverLimit, ErrTimeout or the
	// handshake's error), from the goroutine that refused it. It must not
	// block.
	OnRefused func(remote net.Addr, err error)

	now func() time.Time // tests: the clock of the rate limit
}

func (o Options) withDefaults() Options {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second // a handshake is a few round trips: ample on a WAN
	}
	if o.MaxPending == 0 {
		o.MaxPending = 64 // far more than a cluster's nodes dialing at once
	}
	if o.MaxPendingPerSource == 0 {
		o.MaxPendingPerSource = 8 // a node dials a few connections at once (Raft's pool is 3)
	}
	if o.WarnInterval == 0 {
		o.WarnInterval = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
	return o
}

// Validate reports every invalid field.
func (o Options) Validate() error {
	var errs []error
	if o.Timeout < 0 {
		errs = append(errs, errors.New("handshake: Options.Timeout is negative"))
	}
	if o.MaxPending < 0 {
		errs = append(errs, errors.New("handshake: Options.MaxPending is negative"))
	}
	if o.MaxPendingPerSource < 0 {
		errs = append(errs, errors.New("handshake: Options.MaxPendingPerSource is negative"))
	}
	if o.WarnInterval < 0 {
		errs = append(errs, errors.New("handshake: Options.WarnInterval is negative"))
	}
	return errors.Join(errs...)
}

// Func runs the server side of a handshake on a raw connection c and
// returns the authenticated connection (which owns c from then on). ctx
// ends at the handshake's deadline or when the listener closes; c's
// deadline is set to the handshake's and moved to the past when the
// listener closes, so a Func blocked in a read or write returns. On error
// the Listener closes c.
type Func[T io.Closer] func(ctx context.Context, c net.Conn) (T, error)

// Listener accepts connections on a net.Listener and runs their
// handshakes concurrently, each on its own goroutine.
type Listener[T io.Closer] struct {
	ln   net.Listener
	hs   Func[T]
	opts Options
	lim  *limiter

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	conns    chan T        // handshakes done, waiting for Accept
	loopDone chan struct{} // closed when the accept loop ends

	refused atomic.Uint64

	warnMu   sync.Mutex
	lastWarn time.Time // zero: none yet
	unlogged uint64    // refused since the last Warn

	closeOnce sync.Once
	closeErr  error
}

// New starts accepting on ln, running hs on each connection. The
// Listener owns ln: Close closes it.
func New[T io.Closer](ln net.Listener, hs Func[T], opts Options) (*Listener[T], error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	l := &Listener[T]{ln: ln, hs: hs, opts: opts, lim: newLimiter(opts.MaxPending, opts.MaxPendingPerSource),
		conns: make(chan T), loopDone: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer close(l.loopDone)
		l.acceptLoop()
	}()
	return l, nil
}

// Addr is the listening address.
func (l *Listener[T]) Addr() net.Addr { return l.ln.Addr() }

// Refused is how many connections were refused since New: their
// handshake failed or timed out, or they came over a cap.
func (l *Listener[T]) Refused() uint64 { return l.refused.Load() }

// Accept waits for the next connection whose handshake succeeded. It
// returns ErrClosed once the listener is closed (or its accept loop
// ended), or ctx's error.
func (l *Listener[T]) Accept(ctx context.Context) (T, error) {
	var zero T
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.loopDone:
		return zero, ErrClosed
	case <-l.ctx.Done():
		return zero, ErrClosed
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// Close stops accepting, interrupts the pending handshakes and waits for
// their goroutines. Connections already returned by Accept are the
// caller's. Safe to call twice.
func (l *Listener[T]) Close() error {
	l.closeOnce.Do(func() {
		l.cancel()
		l.closeErr = l.ln.Close()
		l.wg.Wait()
	})
	return l.closeErr
}

func (l *Listener[T]) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if l.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient, as running out of file descriptors: wait, as
			// net/http does, rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-l.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		src := sourceOf(c.RemoteAddr())
		if !l.lim.acquire(src) {
			c.Close()
			l.refuse(c.RemoteAddr(), ErrOverLimit)
			continue
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer l.lim.release(src)
			l.handshake(c)
		}()
	}
}

// pastDeadline is a deadline long past: set on a connection, it makes
// blocked reads and writes return at once.
var pastDeadline = time.Unix(1, 0)

// handshake runs l.hs on c and delivers the result to Accept.
func (l *Listener[T]) handshake(c net.Conn) {
	ctx, cancel := context.WithTimeout(l.ctx, l.opts.Timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	// A Func blocked in a read that does not watch ctx returns when the
	// listener closes.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(pastDeadline) })
	v, err := l.hs(ctx, c)
	if !stop() && err == nil {
		// ctx ended as the handshake finished: its deadline may be in
		// the past already, so the connection is not handed on.
		v.Close()
		err = ctx.Err()
	}
	if err != nil {
		c.Close()
		if l.ctx.Err() != nil {
			return // closing: not a refusal
		}
		// The connection's deadline may pass just before ctx's.
		if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w after %v: %w", ErrTimeout, l.opts.Timeout, err)
		}
		l.refuse(c.RemoteAddr(), err)
		return
	}
	c.SetDeadline(time.Time{})
	select {
	case l.conns <- v:
	case <-l.ctx.Done():
		v.Close()
	}
}

// refuse counts a refused connection and warns, at most once per
// WarnInterval, with how many were refused since the last Warn.
func (l *Listener[T]) refuse(remote net.Addr, err error) {
	l.refused.Add(1)
	if l.opts.OnRefused != nil {
		l.opts.OnRefused(remote, err)
	}
	l.warnMu.Lock()
	defer l.warnMu.Unlock()
	l.unlogged++
	now := l.opts.now()
	if !l.lastWarn.IsZero() && now.Sub(l.lastWarn) < l.opts.WarnInterval {
		return
	}
	l.opts.Logger.Warn("handshakes refused", "count", l.unlogged,
		"last_remote", addrString(remote), "last_err", err)
	l.lastWarn, l.unlogged = now, 0
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// sourceOf is the key of a's per-source cap: its IP.
func sourceOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	s := addrString(a)
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return s
}

// limiter counts connections in the handshake, overall and by source.
type limiter struct {
	max, perSource int

	mu    sync.Mutex
	total int
	by    map[string]int
}

func newLimiter(max, perSource int) *limiter {
	return &limiter{max: max, perSource: perSource, by: make(map[string]int)}
}

// acquire takes a slot for a connection from src; false if a cap is
// reached.
func (l *limiter) acquire(src string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max || l.by[src] >= l.perSource {
		return false
	}
	l.total++
	l.by[src]++
	return true
}

// release gives back a slot acquire took for src.
func (l *limiter) release(src string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.by[src]--; l.by[src] <= 0 {
		delete(l.by, src)
	}
}
