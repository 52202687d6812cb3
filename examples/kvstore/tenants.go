package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/tenant"
)

// Tenants: a request with the header X-Tenant works in that tenant's own
// map. Its events are sealed under the tenant's key in the log, on the
// standbys and in the archive, and its map is sealed under it in base
// snapshots; DELETE /tenants/{id} shreds all of it, everywhere.
const tenantHeader = "X-Tenant"

// tenantOf is the request's tenant ("" for the shared map); a bad ID
// answers 400.
func tenantOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.Header.Get(tenantHeader)
	if id == "" {
		return "", true
	}
	if err := tenant.CheckID(id); err != nil {
		http.Error(w, tenantHeader+": "+err.Error(), http.StatusBadRequest)
		return "", false
	}
	return id, true
}

// get reads key from the tenant's map ("" for the shared one).
func (s *store) get(tenant, key string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := s.m
	if tenant != "" {
		m = s.tenants[tenant]
	}
	v, ok := m[key]
	return v, ok
}

// ApplyTenant folds one of a tenant's events into its map.
func (s *store) ApplyTenant(tenant string, rec continuity.Record) error {
	var e event
	if err := json.Unmarshal(rec.Data, &e); err != nil {
		return fmt.Errorf("LSN %d: %w", rec.LSN, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tenants == nil {
		s.tenants = map[string]map[string]string{}
	}
	m := s.tenants[tenant]
	if m == nil {
		m = map[string]string{}
		s.tenants[tenant] = m
	}
	e.fold(m)
	s.lsn = rec.LSN
	return nil
}

// SnapshotTenant writes one tenant's map.
func (s *store) SnapshotTenant(tenant string, w io.Writer) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return json.NewEncoder(w).Encode(s.tenants[tenant])
}

// RestoreTenant sets one tenant's map.
func (s *store) RestoreTenant(tenant string, r io.Reader) error {
	m := map[string]string{}
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tenants == nil {
		s.tenants = map[string]map[string]string{}
	}
	s.tenants[tenant] = m
	return nil
}

// DropTenant deletes a forgotten tenant's map.
func (s *store) DropTenant(tenant string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tenants, tenant)
	return nil
}

// tenantRoutes serves a tenant's restore and deletion:
//
//	GET    /tenants/{id}/restore?time=RFC3339 | lsn=N   the tenant's map as it was (JSON)
//	DELETE /tenants/{id}?reason=...                     shred the tenant; the deletion receipt (JSON)
//
// DELETE answers requests from this machine only (no authentication of
// its own) and runs on the primary.
func tenantRoutes(mux *http.ServeMux, n *continuity.Node) {
	mux.HandleFunc("GET /tenants/{id}/restore", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		target, err := restoreTarget(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
		defer cancel()
		into := &store{}
		res, err := n.RestoreTenant(ctx, id, target, into)
		var shredded *tenant.ShreddedError
		switch {
		case errors.As(err, &shredded):
			http.Error(w, err.Error(), http.StatusGone)
			return
		case errors.Is(err, continuity.ErrUnknownTenant), errors.Is(err, archive.ErrOutOfWindow):
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		m := maps.Clone(into.tenants[id])
		if m == nil {
			m = map[string]string{}
		}
		replyJSON(w, map[string]any{"tenant": id, "lsn": res.LSN, "time": res.Time, "kv": m})
	})
	mux.HandleFunc("DELETE /tenants/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !fromLoopback(w, r) {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		rc, err := n.ForgetTenant(ctx, r.PathValue("id"), r.URL.Query().Get("reason"))
		var np *continuity.NotPrimaryError
		switch {
		case errors.Is(err, continuity.ErrUnknownTenant):
			http.Error(w, err.Error(), http.StatusNotFound)
		case errors.As(err, &np):
			http.Error(w, err.Error()+" (delete a tenant on the primary)", http.StatusServiceUnavailable)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			replyJSON(w, rc)
		}
	})
}

// replyJSON answers v as JSON.
func replyJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// restoreTarget reads ?time= (RFC 3339) or ?lsn=; neither is the newest
// state.
func restoreTarget(r *http.Request) (continuity.Target, error) {
	q := r.URL.Query()
	switch {
	case q.Has("time") && q.Has("lsn"):
		return continuity.Target{}, errors.New("give time or lsn, not both")
	case q.Has("time"):
		t, err := time.Parse(time.RFC3339Nano, q.Get("time"))
		if err != nil {
			return continuity.Target{}, fmt.Errorf("time: want RFC 3339, such as 2026-12-05T08:00:00Z: %w", err)
		}
		return continuity.AtTime(t), nil
	case q.Has("lsn"):
		lsn, err := strconv.ParseUint(q.Get("lsn"), 10, 64)
		if err != nil || lsn == 0 {
			return continuity.Target{}, fmt.Errorf("lsn %q: want a positive number", q.Get("lsn"))
		}
		return continuity.AtLSN(continuity.LSN(lsn)), nil
	}
	return continuity.Target{}, nil
}
