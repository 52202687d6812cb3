package continuity

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// stuck is a state machine whose Apply blocks until released.
type stuck struct {
	entered chan struct{}
	release chan struct{}
}

func (s *stuck) Apply(Record) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.release
	return nil
}
func (s *stuck) Snapshot(io.Writer) error { return nil }
func (s *stuck) Restore(io.Reader) error  { return nil }

// TestProbesAnswerDuringSlowApply: Live, Ready, Healthy and Status
// answer while the state machine is inside Apply (probes that wait for
// the state machine would hang and get the process killed for being
// slow, or hide that it is stuck).
func TestProbesAnswerDuringSlowApply(t *testing.T) {
	ctx := context.Background()
	sm := &stuck{entered: make(chan struct{}, 1), release: make(chan struct{})}
	n, err := Open(ctx, Config{Dir: t.TempDir(), Logger: quiet}, sm)
	require.NoError(t, err)
	defer func() { close(sm.release); n.Close() }()
	_, _, err = n.Append(ctx, []byte("x"))
	require.NoError(t, err)
	<-sm.entered
	done := make(chan struct{})
	go func() {
		n.Live()
		n.Ready()
		n.Healthy(time.Hour)
		n.Status()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute): // generous: a busy machine; a hang is forever
		t.Fatal("the probes wait for the state machine's Apply")
	}
}
