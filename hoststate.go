package continuity

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/continuity-go/continuity/tenant"
	"github.com/continuity-go/continuity/wal"
)

// hostState is the StateMachine the applier and every restore drive. It
// passes the host's events to the host's state machine and handles the
// records of package tenant: key records fill the registry, sealed events
// are opened and given to the host's TenantStateMachine, forget records
// destroy a key and drop the tenant's state.
//
// Snapshot stream of a TenantStateMachine, each item a part of its own
// (snapshot.Pipe: an unchanged part stores nothing new):
//
//	registry   tenant.Registry WriteTo, starting with "CTENANT1"
//	shared     the host's Snapshot, in tenant.PlainWriter frames
//	sections   per live tenant: SnapshotTenant, sealed under its key
//	           (tenant.SectionWriter), then tenant.EndSections
//
// Otherwise the host's Snapshot alone, as before tenants existed; a
// stream without the magic restores as a host state with no tenants.
type hostState struct {
	ctx  context.Context // bounds key loads from the archive
	host StateMachine
	tsm  TenantStateMachine // nil: the host has no tenants
	reg  *tenant.Registry   // nil when tsm is nil
	// forgotten, if set (a running node, not a restore), deletes the
	// stored copies of a destroyed key's slot.
	forgotten func(ctx context.Context, t tenant.Tenant)
	// skipped counts sealed events skipped because their key was
	// destroyed or is unavailable (Status.TenantEventsSkipped); skip, if
	// set, hears of each.
	skipped atomic.Uint64
	skip    func(rec wal.Record, err error)
	// only, if set, restores one tenant (RestoreTenant): every other
	// record and section is passed over unread, and the shared state is
	// not restored. tenantEvents and tenantSection say what it found.
	only          *tenant.Tag
	tenantEvents  int64
	tenantSection bool
}

// other reports whether a record of tag is passed over (RestoreTenant of
// another tenant).
func (s *hostState) other(tag tenant.Tag) bool { return s.only != nil && *s.only != tag }

var errNoTenants = errors.New("continuity: the log holds tenant records, and the state machine does not implement TenantStateMachine")

// Apply folds one record into the state.
func (s *hostState) Apply(rec wal.Record) error {
	switch rec.Kind {
	case wal.KindEvent:
		if s.only != nil {
			return nil
		}
		return s.host.Apply(rec)
	case tenant.KindGeneration:
		return nil
	}
	if !tenant.Ours(rec.Kind) {
		return fmt.Errorf("continuity: LSN %d has record kind %d, which this build does not know", rec.LSN, rec.Kind)
	}
	if s.tsm == nil {
		return fmt.Errorf("%w (LSN %d, kind %d)", errNoTenants, rec.LSN, rec.Kind)
	}
	if s.only != nil {
		if tag, ok := tenant.TagOf(rec.Kind, rec.Data); ok && s.other(tag) {
			return nil // another tenant's, in a RestoreTenant
		}
	}
	switch rec.Kind {
	case tenant.KindKey:
		if _, err := s.reg.ApplyKey(s.ctx, rec.Data); err != nil {
			return fmt.Errorf("continuity: tenant key record at LSN %d: %w", rec.LSN, err)
		}
		return nil
	case tenant.KindForget:
		_, t, _, err := s.reg.ApplyForget(rec.Data)
		if err != nil {
			return fmt.Errorf("continuity: tenant forget record at LSN %d: %w", rec.LSN, err)
		}
		if s.forgotten != nil {
			s.forgotten(s.ctx, t)
		}
		if t.ID == "" {
			return nil // never readable here: no state of it to drop
		}
		return s.tsm.DropTenant(t.ID)
	default: // tenant.KindSealed
		t, event, err := s.reg.Open(nil, rec.Data)
		if s.only != nil && (errors.Is(err, tenant.ErrUnknownKey) || t.Tag != (tenant.Tag{}) && s.other(t.Tag)) {
			// Another tenant's, in a RestoreTenant: its key records were
			// passed over (a key unknown here), or its key is one the
			// restore does not read.
			return nil
		}
		if err != nil {
			// Declared here, not before Open: errors.As makes them escape,
			// and every sealed event would allocate them.
			var shredded *tenant.ShreddedError
			var unavailable *tenant.KeyUnavailableError
			if errors.As(err, &shredded) || errors.As(err, &unavailable) {
				s.skipped.Add(1)
				if s.skip != nil {
					s.skip(rec, err)
				}
				return nil
			}
			return fmt.Errorf("continuity: sealed event at LSN %d: %w", rec.LSN, err)
		}
		rec.Data = event
		s.tenantEvents++
		return s.tsm.ApplyTenant(t.ID, rec)
	}
}

// Snapshot writes the state (see the stream layout on hostState).
func (s *hostState) Snapshot(w io.Writer) error {
	if s.reg == nil {
		return s.host.Snapshot(w)
	}
	endPart := func() error {
		if p, ok := w.(interface{ EndPart() error }); ok {
			return p.EndPart()
		}
		return nil
	}
	if _, err := s.reg.WriteTo(w); err != nil {
		return err
	}
	if err := endPart(); err != nil {
		return err
	}
	shared := tenant.NewPlainWriter(w)
	if err := s.host.Snapshot(shared); err != nil {
		return err
	}
	if err := shared.Close(); err != nil {
		return err
	}
	if err := endPart(); err != nil {
		return err
	}
	for _, t := range s.reg.Tenants() {
		k, _, _ := s.reg.Lookup(t.Tag)
		if k == nil || t.Forgotten || t.ID == "" {
			continue // nothing readable of it here: no state to seal
		}
		sw, err := tenant.NewSectionWriter(w, k)
		if err != nil {
			return err
		}
		if err := s.tsm.SnapshotTenant(t.ID, sw); err != nil {
			return fmt.Errorf("continuity: snapshot of tenant %q: %w", t.ID, err)
		}
		if err := sw.Close(); err != nil {
			return err
		}
		if err := endPart(); err != nil {
			return err
		}
	}
	return tenant.EndSections(w)
}

// Restore replaces the state with one Snapshot wrote. A tenant whose key
// is destroyed or unavailable is skipped, as its events are.
func (s *hostState) Restore(r io.Reader) error {
	if s.reg == nil {
		return s.host.Restore(r)
	}
	br := bufio.NewReader(r)
	magic, err := br.Peek(len(tenant.SnapshotMagic))
	if err != nil || !bytes.Equal(magic, []byte(tenant.SnapshotMagic)) {
		// A snapshot taken before the host had tenants: its state alone.
		if err := s.reg.ReadFrom(s.ctx, bytes.NewReader(tenant.EmptySnapshot())); err != nil {
			return err
		}
		if s.only != nil {
			// No tenant's state in it; read it to its end, as a
			// snapshot's reader expects of a Restore.
			_, err := io.Copy(io.Discard, br)
			return err
		}
		return s.host.Restore(br)
	}
	if err := s.reg.ReadFrom(s.ctx, br); err != nil {
		return err
	}
	shared := tenant.NewPlainReader(br)
	if s.only == nil {
		if err := s.host.Restore(shared); err != nil {
			return err
		}
	}
	if _, err := io.Copy(io.Discard, shared); err != nil { // what the host left unread
		return err
	}
	for {
		tag, id, ok, err := tenant.ReadSectionHeader(br)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		k, t, _ := s.reg.Lookup(tag)
		if t.Key != id || t.Forgotten || t.ID == "" || s.other(tag) {
			k = nil
		}
		sr, err := tenant.NewSectionReader(br, tag, id, k)
		if err != nil {
			return err
		}
		if k == nil {
			if err := sr.Skip(); err != nil {
				return err
			}
			continue
		}
		if err := s.tsm.RestoreTenant(t.ID, sr); err != nil {
			return fmt.Errorf("continuity: restore tenant %q: %w", t.ID, err)
		}
		s.tenantSection = s.tenantSection || s.only != nil
		if err := sr.Skip(); err != nil {
			return err
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return fmt.Errorf("%w: bytes after the end of the tenants' sections", tenant.ErrDamaged)
	}
	if s.forgotten != nil {
		for _, t := range s.reg.Tenants() {
			if t.Forgotten {
				s.forgotten(s.ctx, t) // a crash may have left its slots
			}
		}
	}
	return nil
}

// capture is the two-phase snapshot (Capturer) when the host can
// capture: the registry is copied at once, under the applier's lock. ok
// is false when the host cannot capture.
func (s *hostState) capture() (write func(io.Writer) error, ok bool, err error) {
	c, ok := s.host.(Capturer)
	if !ok || s.reg != nil {
		// A TenantStateMachine's snapshot takes each tenant's state in
		// turn: applying stays paused while it writes.
		return nil, false, nil
	}
	write, err = c.Capture()
	return write, true, err
}

// newHostState wraps the host's state machine. live is the node's own
// state (the applier's): it sets up the node's tenant machinery, and
// forgetting deletes slots; a restore's (live false) deletes nothing and
// reads keys without keeping copies.
func (n *Node) newHostState(ctx context.Context, sm StateMachine, live bool) (*hostState, error) {
	s := &hostState{ctx: ctx, host: sm}
	tsm, ok := sm.(TenantStateMachine)
	if !ok {
		return s, nil
	}
	s.tsm = tsm
	if live {
		t, err := n.openTenants()
		if err != nil {
			return nil, err
		}
		n.tenants = t
		s.reg, s.forgotten = t.reg, t.forgotten
		s.skip = func(rec wal.Record, err error) {
			n.lg.Debug("a sealed event is skipped: its tenant's key is destroyed or unavailable", "lsn", rec.LSN, "err", err)
		}
		return s, nil
	}
	s.reg = tenant.NewRegistry(archiveLoader(n.repo, n.cfg.TenantKeepers))
	return s, nil
}
