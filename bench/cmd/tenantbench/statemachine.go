package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/continuity-go/continuity"
)

// state is the benchmark's TenantStateMachine: a map from tenant to its
// events. The shared state counts the plain events. With keep false
// (the append suite, which appends hundreds of MB a second) a tenant's
// events are counted, not kept, so that the heap does not grow with the
// run. Safe for concurrent use.
type state struct {
	mu          sync.Mutex
	keep        bool
	plainEvents int64
	plainBytes  int64
	tenants     map[string]*tenantState
}

var _ continuity.TenantStateMachine = (*state)(nil)

// tenantState is one tenant's state, as SnapshotTenant writes it (JSON).
type tenantState struct {
	Events []string `json:"events,omitempty"` // kept only with state.keep
	Count  int64    `json:"count"`
	Bytes  int64    `json:"bytes"`
}

// sharedState is the shared state, as Snapshot writes it (JSON).
type sharedState struct {
	PlainEvents int64 `json:"plain_events"`
	PlainBytes  int64 `json:"plain_bytes"`
}

// newState returns an empty state; keep says whether tenants' events are
// kept (else counted).
func newState(keep bool) *state { return &state{keep: keep, tenants: map[string]*tenantState{}} }

// Apply counts a plain event.
func (s *state) Apply(rec continuity.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plainEvents++
	s.plainBytes += int64(len(rec.Data))
	return nil
}

// Snapshot writes the shared state.
func (s *state) Snapshot(w io.Writer) error {
	s.mu.Lock()
	sh := sharedState{PlainEvents: s.plainEvents, PlainBytes: s.plainBytes}
	s.mu.Unlock()
	return json.NewEncoder(w).Encode(sh)
}

// Restore replaces the shared state and clears every tenant.
func (s *state) Restore(r io.Reader) error {
	var sh sharedState
	if err := json.NewDecoder(r).Decode(&sh); err != nil {
		return fmt.Errorf("restore the shared state: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plainEvents, s.plainBytes = sh.PlainEvents, sh.PlainBytes
	s.tenants = map[string]*tenantState{}
	return nil
}

// ApplyTenant adds an event to the tenant's state.
func (s *state) ApplyTenant(id string, rec continuity.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenants[id]
	if t == nil {
		t = &tenantState{}
		s.tenants[id] = t
	}
	t.Count++
	t.Bytes += int64(len(rec.Data))
	if s.keep {
		t.Events = append(t.Events, string(rec.Data))
	}
	return nil
}

// SnapshotTenant writes the tenant's state as JSON.
func (s *state) SnapshotTenant(id string, w io.Writer) error {
	s.mu.Lock()
	b, err := json.Marshal(s.tenants[id])
	s.mu.Unlock()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// RestoreTenant sets the tenant's state to one SnapshotTenant wrote.
func (s *state) RestoreTenant(id string, r io.Reader) error {
	var t tenantState
	if err := json.NewDecoder(r).Decode(&t); err != nil {
		return fmt.Errorf("restore tenant %q: %w", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenants[id] = &t
	return nil
}

// DropTenant deletes the tenant's state.
func (s *state) DropTenant(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tenants, id)
	return nil
}

// tenantSize is the size of the tenant's state as SnapshotTenant writes
// it.
func (s *state) tenantSize(id string) (int64, error) {
	var c countWriter
	err := s.SnapshotTenant(id, &c)
	return c.n, err
}

// totals returns the tenants that have a state, and their events and
// event bytes.
func (s *state) totals() (tenants int, events, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tenants {
		events += t.Count
		bytes += t.Bytes
	}
	return len(s.tenants), events, bytes
}

// plain returns the plain events applied and their bytes.
func (s *state) plain() (events, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.plainEvents, s.plainBytes
}

// tenantTotals returns one tenant's event count and bytes.
func (s *state) tenantTotals(id string) (events, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tenants[id]; t != nil {
		return t.Count, t.Bytes
	}
	return 0, 0
}

// countWriter counts the bytes written to it.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
