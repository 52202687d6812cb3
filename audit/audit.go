// Package audit keeps the archive's audit trail: one record per
// administrative action (tenants created, forgotten and restored; a
// promotion or switchover; prune, key rotation and the other ctl
// commands that change the archive), each an object under Prefix sealed
// under the archive's key, so that it opens only as written, under its
// own name, in its own repository. ctl audit lists them.
//
// A record is authenticated, not undeletable: whoever can delete objects
// in the bucket can delete records; Object Lock on the bucket (issue 21)
// is what keeps them. Records are JSON (Entry).
package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/continuity-go/continuity/snapshot"
)

// Prefix is where the archive keeps audit records:
// audit/<Unix ns, 16 hex digits>-<action>-<16 random hex digits>, so
// names sort by time.
const Prefix = "audit/"

// maxEntryBytes bounds a record read back.
const maxEntryBytes = 64 << 10

// Entry is one administrative action.
type Entry struct {
	Time    time.Time         `json:"time"`
	Action  string            `json:"action"`            // what was done: tenant.forget, promote, prune, ...
	Actor   string            `json:"actor"`             // who did it: a node ID, or ctl@host
	Subject string            `json:"subject,omitempty"` // what it was done to: a tenant's tag, a node, a key slot
	LSN     uint64            `json:"lsn,omitempty"`     // the log position it took effect at, if any
	Details map[string]string `json:"details,omitempty"`
	Name    string            `json:"name,omitempty"` // the record's object name (set when read)
}

// Write stores e as a new audit record and returns its name. A zero
// Time is now.
func Write(ctx context.Context, repo *snapshot.Repo, e Entry) (string, error) {
	if e.Action == "" || strings.ContainsAny(e.Action, "/-") {
		return "", fmt.Errorf("audit: action %q: want a name without '/' or '-'", e.Action)
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	var rnd [8]byte
	rand.Read(rnd[:])
	e.Name = fmt.Sprintf("%s%016x-%s-%s", Prefix, e.Time.UnixNano(), e.Action, hex.EncodeToString(rnd[:]))
	body, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	if _, err := repo.PutSealed(ctx, e.Name, nil, body); err != nil {
		return "", fmt.Errorf("audit: write %s: %w", e.Name, err)
	}
	return e.Name, nil
}

// List reads the audit records written at or after since, oldest first.
// A record that does not authenticate (planted, damaged, or of another
// repository) is not listed; damaged names each with its error.
func List(ctx context.Context, repo *snapshot.Repo, since time.Time) (entries []Entry, damaged []error, err error) {
	objs, err := repo.ListObjects(ctx, Prefix, "")
	if err != nil {
		return nil, nil, err
	}
	slices.SortFunc(objs, func(a, b snapshot.ObjectInfo) int { return strings.Compare(a.Name, b.Name) })
	for _, o := range objs {
		if t, ok := nameTime(o.Name); ok && t.Before(since) {
			continue
		}
		_, body, err := repo.GetSealed(ctx, o.Name, 0, maxEntryBytes)
		if err != nil {
			damaged = append(damaged, fmt.Errorf("audit record %s: %w", o.Name, err))
			continue
		}
		var e Entry
		if err := json.Unmarshal(body, &e); err != nil {
			damaged = append(damaged, fmt.Errorf("audit record %s: %w", o.Name, err))
			continue
		}
		if e.Name != o.Name {
			damaged = append(damaged, fmt.Errorf("audit record %s: it says it is %s", o.Name, e.Name))
			continue
		}
		entries = append(entries, e)
	}
	return entries, damaged, nil
}

// nameTime reads the time in a record's name.
func nameTime(name string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok || len(rest) < 16 {
		return time.Time{}, false
	}
	ns, err := strconv.ParseUint(rest[:16], 16, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, int64(ns)), true
}

// Actor names a process that is not a node: prog@host.
func Actor(prog string) string {
	h, err := os.Hostname()
	if err != nil {
		h = "unknown-host"
	}
	return prog + "@" + h
}
