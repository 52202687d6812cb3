package continuity

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testsm"
	"github.com/continuity-go/continuity/wal"
)

// stalledTenants is a tenant state machine whose Apply of the plain
// event stall closes stalled and waits until release is closed: a
// replay the applier has not finished.
type stalledTenants struct {
	*testsm.Tenants
	stall            string
	stalled, release chan struct{}
}

func (s *stalledTenants) Apply(rec wal.Record) error {
	if string(rec.Data) == s.stall {
		close(s.stalled)
		<-s.release
	}
	return s.Tenants.Apply(rec)
}

// reopenStalled opens dir again, waits until the replay stalls at the
// plain event "stall", runs call, releases the replay once call has
// appended a record (untilWritten), and returns call's error.
func reopenStalled(t *testing.T, dir string, call func(*Node) error) (*Node, *stalledTenants, error) {
	t.Helper()
	ctx := t.Context()
	sm := &stalledTenants{Tenants: testsm.NewTenants(), stall: "stall", stalled: make(chan struct{}), release: make(chan struct{})}
	n, err := Open(ctx, Config{Dir: dir, Logger: quiet}, sm)
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	<-sm.stalled
	wait := untilWritten(t, n, n.Log().Last(), func() error { return call(n) })
	close(sm.release)
	err = wait()
	require.NoError(t, n.WaitFor(ctx, n.Log().Last()))
	return n, sm, err
}

// untilWritten runs call in a goroutine and returns once n's log holds
// a record past from (call wrote something: a decision taken from a
// registry that had not applied the log is taken by then) or call
// returned without; wait returns call's error.
func untilWritten(t *testing.T, n *Node, from wal.LSN, call func() error) (wait func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	appended := make(chan struct{})
	go func() {
		r := n.Log().NewReader(from + 1)
		defer r.Close()
		if _, err := r.Next(t.Context()); err == nil {
			close(appended)
		}
	}()
	select {
	case <-appended:
		return func() error { return <-done }
	case err := <-done:
		return func() error { return err }
	}
}

// TestAppendAfterRestartSeesForget: after a restart, with the replay not
// yet past a tenant's forget record, an append to the tenant creates it
// anew. Without the wait it found the key the replay had met, which
// the forget had left without a slot: KeyUnavailableError. (A standby
// promoted before applying a forget still holds the slot: it sealed
// under the key, and the event was lost as shredded.)
func TestAppendAfterRestartSeesForget(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	n, err := Open(ctx, Config{Dir: dir, Logger: quiet}, testsm.NewTenants())
	require.NoError(t, err)
	_, _, err = n.AppendTenant(ctx, "a", []byte("before"))
	require.NoError(t, err)
	_, _, err = n.Append(ctx, []byte("stall"))
	require.NoError(t, err)
	_, err = n.ForgetTenant(ctx, "a", "test")
	require.NoError(t, err)
	require.NoError(t, n.Close())

	_, sm, err := reopenStalled(t, dir, func(n *Node) error {
		_, _, err := n.AppendTenant(ctx, "a", []byte("after"))
		return err
	})
	require.NoError(t, err)
	require.Equal(t, []string{"after"}, sm.Events("a"))
}

// TestCreateAfterRestartKeepsKey: after a restart, with the replay not
// yet at a tenant's key record, CreateTenant finds the tenant; it does
// not give it a second key (whose slot a later forget would not delete).
func TestCreateAfterRestartKeepsKey(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	n, err := Open(ctx, Config{Dir: dir, Logger: quiet}, testsm.NewTenants())
	require.NoError(t, err)
	_, _, err = n.Append(ctx, []byte("stall"))
	require.NoError(t, err)
	_, _, err = n.AppendTenant(ctx, "a", []byte("x"))
	require.NoError(t, err)
	before := n.Tenants()
	require.Len(t, before, 1)
	require.NoError(t, n.Close())

	n, _, err = reopenStalled(t, dir, func(n *Node) error { return n.CreateTenant(ctx, "a", TenantOptions{}) })
	require.NoError(t, err)
	after := n.Tenants()
	require.Len(t, after, 1)
	require.Equal(t, before[0].Key, after[0].Key, "the tenant's key")
}
