package continuity

import (
	"context"
	"io"
	"path/filepath"
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

// TestLiveDuringRoleChange: Live answers while a role change holds the
// cluster part's lock (a rejoined node rebuilding its state from the
// archive holds it for as long as that takes): a liveness probe that
// waited would get the process killed in the middle of the rebuild.
func TestLiveDuringRoleChange(t *testing.T) {
	ctx := context.Background()
	n, err := Open(ctx, Config{Dir: t.TempDir(), Logger: quiet, Archive: "file://" + filepath.ToSlash(t.TempDir()),
		Cluster: &ClusterConfig{Node: "n1", RaftBind: freeAddr(t), ReplBind: freeAddr(t), Bootstrap: true, InsecurePlaintext: true}}, &kv{})
	require.NoError(t, err)
	defer n.Close()
	n.cl.mu.Lock() // as roleLoop's apply does
	done := make(chan bool, 1)
	go func() {
		ok, _ := n.Live()
		done <- ok
	}()
	select {
	case ok := <-done:
		require.True(t, ok)
	case <-time.After(time.Minute): // generous: a busy machine; a hang is forever
		t.Error("Live waits for the role change")
	}
	n.cl.mu.Unlock()
}
