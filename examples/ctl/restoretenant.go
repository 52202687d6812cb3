package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/tenant"
	"github.com/continuity-go/continuity/wal"
)

// tenantExporter is the TenantStateMachine restore --tenant writes
// through: the tenant's state from its base snapshot section to one
// writer, its events after it to another, decrypted.
type tenantExporter struct {
	exporter
}

func (x *tenantExporter) RestoreTenant(_ string, r io.Reader) error { return x.exporter.Restore(r) }
func (x *tenantExporter) ApplyTenant(_ string, rec wal.Record) error {
	return x.exporter.Apply(rec)
}
func (x *tenantExporter) SnapshotTenant(string, io.Writer) error {
	return errors.New("ctl: an exported state cannot be snapshotted")
}

// DropTenant: the tenant was forgotten and made again before the
// target. Nothing of its first life was written: its key is destroyed,
// so none of it opened.
func (x *tenantExporter) DropTenant(string) error { return nil }

// Restore and Apply are the shared state's: a restore of one tenant
// never reads them.
func (x *tenantExporter) Restore(io.Reader) error {
	return errors.New("ctl: the shared state reached a restore of one tenant")
}
func (x *tenantExporter) Apply(rec wal.Record) error {
	return fmt.Errorf("ctl: a shared event (LSN %d) reached a restore of one tenant", rec.LSN)
}

// restoreTenantJSON is ctl restore --tenant --json.
type restoreTenantJSON struct {
	Tenant          string   `json:"tenant"`
	Tag             string   `json:"tag"`
	TargetTime      jsonTime `json:"target_time"`
	TargetLSN       uint64   `json:"target_lsn"`
	FromSnapshot    bool     `json:"from_snapshot"`
	LSN             uint64   `json:"lsn"`
	Time            jsonTime `json:"time"`
	Events          int64    `json:"events"`
	StateFile       string   `json:"state_file"`
	EventsFile      string   `json:"events_file"`
	DurationSeconds float64  `json:"duration_seconds"`
}

// restoreTenant writes one tenant's state as of at: its section of the
// base snapshot into outPath, its events after it into eventsPath.
func (a *app) restoreTenant(ctx context.Context, s *session, t target, at archive.Target, id, outPath, eventsPath string, force bool) error {
	if err := tenant.CheckID(id); err != nil {
		return usage(fmt.Errorf("--tenant: %w", err))
	}
	files, err := a.createRestoreFiles(outPath, eventsPath, force)
	if err != nil {
		return err
	}
	x := &tenantExporter{exporter{state: files.state, events: json.NewEncoder(files.events)}}
	res, err := continuity.RestoreTenant(ctx, s.repo, id, at, x, nil)
	s.meter.finish()
	if err != nil {
		files.abort()
		var shredded *tenant.ShreddedError
		var unavailable *tenant.KeyUnavailableError
		switch {
		case x.err != nil:
			return fmt.Errorf("restore: writing the output failed, nothing was kept: %w", x.err)
		case errors.As(err, &shredded):
			return withCode(exitNotFound, fmt.Errorf("%w: nothing of it can be restored, at any time", err))
		case errors.Is(err, continuity.ErrUnknownTenant):
			return withCode(exitNotFound, err)
		case errors.As(err, &unavailable):
			return withCode(exitWrongKey, fmt.Errorf("%w (ctl opens no customer keeper: restore this tenant through its Node, which has Config.TenantKeepers)", err))
		case errors.Is(err, archive.ErrOutOfWindow):
			return fmt.Errorf("%w ('ctl window' shows what can be restored)", err)
		}
		return err
	}
	if err := files.commit(); err != nil {
		return err
	}
	v := restoreTenantJSON{Tenant: id, Tag: res.Tag, TargetTime: jsonTime(at.Time), TargetLSN: uint64(at.LSN), FromSnapshot: res.FromSnapshot,
		LSN: uint64(res.LSN), Time: jsonTime(res.Time), Events: res.Events, StateFile: outPath, EventsFile: eventsPath,
		DurationSeconds: seconds(res.Duration)}
	p := a.printer()
	if outPath == "-" {
		p.out = a.errOut
	}
	return p.print(v, func(out io.Writer) {
		base := "no section of a base snapshot (its events from its creation)"
		if res.FromSnapshot {
			base = fmt.Sprintf("its section of base snapshot %s (LSN %d)", res.Snapshot.Short(), res.SnapshotLSN)
		}
		fmt.Fprintf(out, "restored tenant %q %s: %s into %s, %d of its events after it into %s; as of LSN %d (%s), in %v\n",
			id, t.describe(at, a.loc), base, outPath, res.Events, eventsPath, res.LSN, utc(res.Time), res.Duration.Round(time.Millisecond))
	})
}
