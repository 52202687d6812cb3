package testsm

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/continuity-go/continuity/wal"
)

// Tenants is a tenant-partitioned state machine for tests: the events of
// each tenant, and the plain events, in the order applied. It implements
// continuity.TenantStateMachine.
type Tenants struct {
	mu       sync.Mutex
	Plain    []string            // events appended without a tenant
	ByTenant map[string][]string // each tenant's events
	LastLSN  wal.LSN
	Dropped  []string // tenants dropped, in order
}

// NewTenants returns an empty state.
func NewTenants() *Tenants { return &Tenants{ByTenant: map[string][]string{}} }

func (s *Tenants) advance(lsn wal.LSN) error {
	if s.LastLSN != 0 && lsn <= s.LastLSN {
		return fmt.Errorf("testsm: LSN %d applied after %d", lsn, s.LastLSN)
	}
	s.LastLSN = lsn
	return nil
}

// Apply records a plain event.
func (s *Tenants) Apply(rec wal.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.advance(rec.LSN); err != nil {
		return err
	}
	s.Plain = append(s.Plain, string(rec.Data))
	return nil
}

// ApplyTenant records a tenant's event.
func (s *Tenants) ApplyTenant(tenant string, rec wal.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.advance(rec.LSN); err != nil {
		return err
	}
	s.ByTenant[tenant] = append(s.ByTenant[tenant], string(rec.Data))
	return nil
}

// DropTenant forgets a tenant's events.
func (s *Tenants) DropTenant(tenant string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ByTenant, tenant)
	s.Dropped = append(s.Dropped, tenant)
	return nil
}

// Events returns a copy of a tenant's events.
func (s *Tenants) Events(tenant string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ByTenant[tenant])
}

// TenantIDs lists the tenants that have events.
func (s *Tenants) TenantIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.ByTenant))
}

// PlainEvents returns a copy of the plain events.
func (s *Tenants) PlainEvents() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.Plain)
}

// Snapshot writes the shared state (the plain events) as JSON; each
// tenant's goes through SnapshotTenant.
func (s *Tenants) Snapshot(w io.Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.NewEncoder(w).Encode(s.Plain)
}

// Restore replaces the shared state and clears every tenant.
func (s *Tenants) Restore(r io.Reader) error {
	var plain []string
	if err := json.NewDecoder(r).Decode(&plain); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Plain, s.ByTenant, s.LastLSN = plain, map[string][]string{}, 0
	return nil
}

// SnapshotTenant writes one tenant's events as JSON.
func (s *Tenants) SnapshotTenant(tenant string, w io.Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.NewEncoder(w).Encode(s.ByTenant[tenant])
}

// RestoreTenant sets one tenant's events.
func (s *Tenants) RestoreTenant(tenant string, r io.Reader) error {
	var evs []string
	if err := json.NewDecoder(r).Decode(&evs); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(evs) > 0 {
		s.ByTenant[tenant] = evs
	}
	return nil
}
