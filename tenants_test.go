package continuity

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"
	"gocloud.dev/secrets"
	"gocloud.dev/secrets/localsecrets"

	"github.com/continuity-go/continuity/audit"
	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/internal/testsm"
	"github.com/continuity-go/continuity/tenant"
	"github.com/continuity-go/continuity/wal"
)

var _ TenantStateMachine = (*testsm.Tenants)(nil)

// grepTree reports the files under dir that hold marker anywhere.
func grepTree(t *testing.T, dir string, marker []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, marker) {
			hits = append(hits, path)
		}
		return nil
	})
	require.NoError(t, err)
	return hits
}

// TestTenantCanary: a marker in tenant A's events, A forgotten, the WAL
// cut past the deletion, a new base snapshot: no byte of the node's
// directory or the archive holds the marker, and tenants B and C restore
// exactly at random instants before and after the deletion, while A's
// events are skipped as shredded.
func TestTenantCanary(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		bucket := t.TempDir()
		tenantCanary(t, "file://"+filepath.ToSlash(bucket), func(t *testing.T, marker []byte, slot string) {
			assert.Empty(t, grepTree(t, bucket, marker), "the marker is in the archive")
			assert.NoFileExists(t, filepath.Join(bucket, filepath.FromSlash(slot)), "the destroyed key's slot")
		})
	})
	t.Run("s3", func(t *testing.T) {
		// A bucket with versioning on: the slot's old versions must go too.
		archiveURL, client, bucket := versionedS3Bucket(t)
		tenantCanary(t, archiveURL, func(t *testing.T, marker []byte, slot string) {
			var kept []string
			var marker2, idMarker *string
			for {
				out, err := client.ListObjectVersions(t.Context(), &s3.ListObjectVersionsInput{Bucket: &bucket, KeyMarker: marker2, VersionIdMarker: idMarker})
				require.NoError(t, err)
				for _, v := range out.Versions {
					if strings.HasSuffix(*v.Key, slot) {
						kept = append(kept, *v.Key+"@"+*v.VersionId)
					}
					obj, err := client.GetObject(t.Context(), &s3.GetObjectInput{Bucket: &bucket, Key: v.Key, VersionId: v.VersionId})
					require.NoError(t, err)
					b, err := io.ReadAll(obj.Body)
					obj.Body.Close()
					require.NoError(t, err)
					assert.False(t, bytes.Contains(b, marker), "the marker is in %s version %s", *v.Key, *v.VersionId)
				}
				for _, m := range out.DeleteMarkers {
					if strings.HasSuffix(*m.Key, slot) {
						kept = append(kept, *m.Key+"@"+*m.VersionId+" (delete marker)")
					}
				}
				if out.IsTruncated == nil || !*out.IsTruncated {
					break
				}
				marker2, idMarker = out.NextKeyMarker, out.NextVersionIdMarker
			}
			assert.Empty(t, kept, "versions of the destroyed key's slot")
		})
	})
}

// versionedS3Bucket makes a bucket with versioning on in the loopback S3
// server of .ci/run, and returns its archive URL, the S3 client and its
// name.
func versionedS3Bucket(t *testing.T) (string, *s3.Client, string) {
	raw := os.Getenv(testkit.S3URLEnv)
	if raw == "" {
		if os.Getenv(testkit.CIEnv) != "" {
			t.Fatalf("%s is not set", testkit.S3URLEnv)
		}
		t.Skipf("needs the S3 server: .ci/run with-s3 go test . -run %s", t.Name())
	}
	u, err := url.Parse(raw)
	require.NoError(t, err)
	base, err := blob.OpenBucket(t.Context(), raw)
	require.NoError(t, err)
	defer base.Close()
	var client *s3.Client
	require.True(t, base.As(&client))
	name := "tenants-" + strings.ToLower(crand.Text()[:12])
	_, err = client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: &name})
	require.NoError(t, err)
	_, err = client.PutBucketVersioning(t.Context(), &s3.PutBucketVersioningInput{Bucket: &name,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	require.NoError(t, err, "the S3 server must allow versioning (versitygw --versioning-dir)")
	u.Host = name
	return u.String(), client, name
}

// tenantCanary runs the canary on an archive; archiveGone checks that the
// archive holds neither the marker nor the destroyed key's slot.
func tenantCanary(t *testing.T, archiveURL string, archiveGone func(t *testing.T, marker []byte, slot string)) {
	ctx := context.Background()
	dir, copyDir := t.TempDir(), t.TempDir()
	cfg := Config{Dir: dir, Archive: archiveURL, Logger: quiet, WAL: wal.Options{SegmentBytes: 16 << 10},
		Copies: []CopyConfig{{Name: "off-site", URL: "file://" + filepath.ToSlash(copyDir)}}}
	sm := testsm.NewTenants()
	n, err := Open(ctx, cfg, sm)
	require.NoError(t, err)
	defer func() { n.Close() }()

	marker := []byte("CANARY-7f3a9c-tenant-a")
	type point struct {
		at   time.Time
		lsn  LSN
		want map[string][]string // B's and C's events at that instant
	}
	want := map[string][]string{}
	var points []point
	write := func(id string, ev []byte) {
		_, last, err := n.AppendTenant(ctx, id, ev)
		require.NoError(t, err)
		if id != "a" {
			want[id] = append(want[id], string(ev))
		}
		require.NoError(t, n.WaitFor(ctx, last))
		snap := map[string][]string{"b": append([]string(nil), want["b"]...), "c": append([]string(nil), want["c"]...)}
		points = append(points, point{at: time.Now(), lsn: last, want: snap})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 60 {
		switch rng.IntN(3) {
		case 0:
			write("a", append(fmt.Appendf(nil, "a-%d-", i), marker...))
		case 1:
			write("b", fmt.Appendf(nil, "b-%d", i))
		default:
			write("c", fmt.Appendf(nil, "c-%d", i))
		}
	}
	_, _, err = n.Append(ctx, []byte("plain-before"))
	require.NoError(t, err)
	_, err = n.Snapshot(ctx) // a base snapshot that holds A's state
	require.NoError(t, err)

	ktA, err := n.tenants.knownTenant("a")
	require.NoError(t, err)
	require.NotNil(t, ktA.live.Load(), "a's key cached by its appends")
	rcpt, err := n.ForgetTenant(ctx, "a", "ticket 42")
	require.NoError(t, err)
	assert.Nil(t, ktA.live.Load(), "a's key and record keys still cached after the forget")
	assert.Equal(t, "a", rcpt.Tenant)
	assert.NotZero(t, rcpt.LSN)
	assert.Len(t, rcpt.KeysDestroyed, 1)
	slotA := tenant.SlotName(n.tenants.tagger.Tag("a"), mustKeyID(t, rcpt.KeysDestroyed[0]))
	assert.Contains(t, rcpt.Deleted, "archive:"+slotA)
	assert.Contains(t, rcpt.Deleted, "copy:off-site:"+slotA, "the copy's slot")
	assert.NotEmpty(t, rcpt.Audit)
	trail, damaged, err := audit.List(ctx, n.Repo(), time.Time{})
	require.NoError(t, err)
	assert.Empty(t, damaged)
	actions := map[string]int{}
	for _, e := range trail {
		actions[e.Action]++
		if e.Action == "tenant.forget" {
			assert.Equal(t, rcpt.Audit, e.Name)
			assert.Equal(t, "a", e.Details["tenant"])
			assert.Equal(t, "ticket 42", e.Details["reason"])
			assert.Equal(t, uint64(rcpt.LSN), e.LSN)
		}
	}
	assert.Equal(t, map[string]int{"tenant.create": 3, "tenant.forget": 1}, actions, "the audit trail")
	assert.Nil(t, sm.Events("a"), "the state dropped A")
	assert.Equal(t, []string{"a"}, sm.Dropped)
	_, _, err = n.AppendTenant(ctx, "a", []byte("a is new again"))
	require.NoError(t, err, "a forgotten tenant's ID can be used again, under a new key")

	for i := range 30 {
		write([]string{"b", "c"}[i%2], fmt.Appendf(nil, "%s-after-%d", []string{"b", "c"}[i%2], i))
	}
	// Cut the WAL past the deletion: a base snapshot, then truncation.
	m, err := n.Snapshot(ctx)
	require.NoError(t, err)
	require.NoError(t, n.archiver().Flush(ctx))
	require.NoError(t, n.Log().TruncateFront(LSN(m.LSN)))
	require.NoError(t, n.Close())

	assert.Empty(t, grepTree(t, dir, marker), "the marker is in the node's directory")
	// A's first key's slot is gone everywhere.
	slot := tenant.SlotName(n.tenants.tagger.Tag("a"), mustKeyID(t, rcpt.KeysDestroyed[0]))
	assert.NoFileExists(t, filepath.Join(dir, "tenant-keys", filepath.FromSlash(slot)))
	assert.Empty(t, rcpt.Warnings, "the receipt says a copy of the key may remain")
	archiveGone(t, marker, slot)
	assert.Empty(t, grepTree(t, copyDir, marker), "the marker is in the copy")
	assert.NoFileExists(t, filepath.Join(copyDir, filepath.FromSlash(slot)), "the destroyed key's slot in the copy")
	assert.FileExists(t, filepath.Join(copyDir, filepath.FromSlash(tenant.SlotName(n.tenants.tagger.Tag("b"), n.tenants.reg.Key(n.tenants.tagger.Tag("b")).ID))), "B's slot in the copy")

	// Restart: every tenant but A is as it was.
	sm2 := testsm.NewTenants()
	n, err = Open(ctx, cfg, sm2)
	require.NoError(t, err)
	require.NoError(t, n.WaitFor(ctx, points[len(points)-1].lsn))
	assert.Equal(t, want["b"], sm2.Events("b"))
	assert.Equal(t, want["c"], sm2.Events("c"))
	assert.Equal(t, []string{"a is new again"}, sm2.Events("a"))

	// 100 random instants, before and after the deletion: by time, and
	// by LSN.
	for i := range 100 {
		p := points[rng.IntN(len(points))]
		got := testsm.NewTenants()
		target := AtTime(p.at)
		if i%2 == 1 {
			target = AtLSN(p.lsn)
		}
		res, err := n.RestoreTo(ctx, target, got)
		require.NoError(t, err)
		require.GreaterOrEqual(t, res.LSN, p.lsn, "%v", target)
		assert.Equal(t, p.want["b"], got.Events("b"), "B at LSN %d", p.lsn)
		assert.Equal(t, p.want["c"], got.Events("c"), "C at LSN %d", p.lsn)
		for _, ev := range got.Events("a") {
			assert.NotContains(t, ev, string(marker), "A's shredded events restored at LSN %d", p.lsn)
		}
	}
}

func mustKeyID(t *testing.T, s string) tenant.KeyID {
	var id tenant.KeyID
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	copy(id[:], b)
	return id
}

// TestTenantKeeper: a tenant whose key its own keeper wraps; without that
// keeper exactly that tenant is unreadable, with a typed error naming it.
func TestTenantKeeper(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sk, err := localsecrets.NewRandomKey()
	require.NoError(t, err)
	customer := localsecrets.NewKeeper(sk)
	defer customer.Close()
	withKeeper := func(ctx context.Context, name string) (*secrets.Keeper, error) {
		if name != "acme-kms" {
			return nil, fmt.Errorf("no keeper %q", name)
		}
		return customer, nil
	}
	cfg := Config{Dir: dir, Logger: quiet, TenantKeepers: withKeeper}
	sm := testsm.NewTenants()
	n, err := Open(ctx, cfg, sm)
	require.NoError(t, err)
	require.NoError(t, n.CreateTenant(ctx, "acme", TenantOptions{Keeper: "acme-kms"}))
	_, _, err = n.AppendTenant(ctx, "acme", []byte("acme-1"))
	require.NoError(t, err)
	_, last, err := n.AppendTenant(ctx, "globex", []byte("globex-1"))
	require.NoError(t, err)
	require.NoError(t, n.WaitFor(ctx, last))
	assert.Equal(t, []string{"acme-1"}, sm.Events("acme"))
	require.NoError(t, n.Close())

	// The customer revokes the keeper.
	cfg.TenantKeepers = func(ctx context.Context, name string) (*secrets.Keeper, error) {
		return nil, errors.New("access denied by the customer")
	}
	sm2 := testsm.NewTenants()
	n, err = Open(ctx, cfg, sm2)
	require.NoError(t, err)
	defer n.Close()
	require.NoError(t, n.WaitFor(ctx, last))
	assert.Nil(t, sm2.Events("acme"), "acme is unreadable")
	assert.Equal(t, uint64(1), n.Status().TenantEventsSkipped, "acme's one event, skipped")
	assert.Equal(t, []string{"globex-1"}, sm2.Events("globex"), "every other tenant is as it was")
	_, _, err = n.AppendTenant(ctx, "acme", []byte("acme-2"))
	var ku *tenant.KeyUnavailableError
	require.ErrorAs(t, err, &ku)
	assert.Equal(t, "acme", ku.ID)
	assert.ErrorContains(t, err, `"acme"`)
	assert.ErrorContains(t, err, "access denied by the customer")
}

// TestTenantsNeedTheInterface: a plain state machine refuses tenants.
func TestTenantsNeedTheInterface(t *testing.T) {
	n, err := Open(t.Context(), Config{Dir: t.TempDir(), Logger: quiet}, &kv{})
	require.NoError(t, err)
	defer n.Close()
	_, _, err = n.AppendTenant(t.Context(), "a", []byte("x"))
	require.ErrorIs(t, err, ErrNoTenants)
	_, err = n.ForgetTenant(t.Context(), "a", "")
	require.ErrorIs(t, err, ErrNoTenants)
}

// oneTenant is a TenantStateMachine that fails the restore if it is
// given anything but the events and state of want.
type oneTenant struct {
	*testsm.Tenants
	want string
}

func (o *oneTenant) Apply(rec Record) error {
	return fmt.Errorf("a plain event (LSN %d) reached a restore of tenant %q", rec.LSN, o.want)
}
func (o *oneTenant) Restore(r io.Reader) error {
	return fmt.Errorf("the shared state reached a restore of tenant %q", o.want)
}
func (o *oneTenant) ApplyTenant(id string, rec Record) error {
	if id != o.want {
		return fmt.Errorf("tenant %q's event reached a restore of %q", id, o.want)
	}
	return o.Tenants.ApplyTenant(id, rec)
}
func (o *oneTenant) RestoreTenant(id string, r io.Reader) error {
	if id != o.want {
		return fmt.Errorf("tenant %q's state reached a restore of %q", id, o.want)
	}
	return o.Tenants.RestoreTenant(id, r)
}

// TestRestoreTenant: a restore of one tenant at random LSNs equals a
// model of that tenant alone, with base snapshots, a forget and a
// re-creation in the history; nothing of the others is given to it.
func TestRestoreTenant(t *testing.T) {
	ctx := context.Background()
	sm := testsm.NewTenants()
	n, err := Open(ctx, Config{Dir: t.TempDir(), Logger: quiet}, sm)
	require.NoError(t, err)
	defer n.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	ids := []string{"a", "b", "c"}
	model := map[string][]string{}
	type point struct {
		lsn   LSN
		state map[string][]string
		gone  map[string]bool // forgotten at this point, and not made again
	}
	gone := map[string]bool{}
	var points []point
	var forgotLSN LSN
	for i := range 120 {
		switch r := rng.IntN(20); {
		case r == 0:
			_, err := n.Snapshot(ctx)
			require.NoError(t, err)
		case r == 1:
			_, _, err := n.Append(ctx, fmt.Appendf(nil, "plain-%d", i))
			require.NoError(t, err)
		case r == 2 && forgotLSN == 0 && i > 40:
			rc, err := n.ForgetTenant(ctx, "b", "test")
			require.NoError(t, err)
			forgotLSN = rc.LSN
			delete(model, "b")
			gone["b"] = true
		default:
			id := ids[rng.IntN(len(ids))]
			ev := fmt.Sprintf("%s-%d", id, i)
			_, last, err := n.AppendTenant(ctx, id, []byte(ev))
			require.NoError(t, err)
			model[id] = append(model[id], ev)
			gone[id] = false
			st := map[string][]string{}
			for k, v := range model {
				st[k] = append([]string(nil), v...)
			}
			g := map[string]bool{}
			for k, v := range gone {
				g[k] = v
			}
			points = append(points, point{lsn: last, state: st, gone: g})
		}
	}
	require.NotZero(t, forgotLSN, "the history holds a forget")
	require.NoError(t, n.archiver().Flush(ctx))
	fromSnapshot := 0
	for range 60 {
		p := points[rng.IntN(len(points))]
		for _, id := range ids {
			got := &oneTenant{Tenants: testsm.NewTenants(), want: id}
			res, err := n.RestoreTenant(ctx, id, AtLSN(p.lsn), got)
			switch {
			case p.state[id] == nil && !p.gone[id]:
				require.ErrorIs(t, err, ErrUnknownTenant, "%s at LSN %d", id, p.lsn)
			case p.gone[id] || id == "b" && p.lsn < forgotLSN:
				var sh *tenant.ShreddedError
				require.ErrorAs(t, err, &sh, "%s at LSN %d (b forgotten at %d)", id, p.lsn, forgotLSN)
			default:
				require.NoError(t, err, "%s at LSN %d", id, p.lsn)
				assert.Equal(t, p.lsn, res.LSN)
				assert.Equal(t, p.state[id], got.Events(id), "%s at LSN %d", id, p.lsn)
				if res.FromSnapshot {
					fromSnapshot++
				}
			}
		}
	}
	assert.Positive(t, fromSnapshot, "no restore started from a tenant's section of a base snapshot")
	// The tenants' own states were never touched by the restores.
	for _, id := range []string{"a", "c"} {
		assert.Equal(t, model[id], sm.Events(id))
	}
}

// TestRestoreTenantBeforeTenants: a base snapshot taken before the host
// had tenants (no registry in its stream) holds no tenant's state. A
// restore of one tenant reads it to its end and finds the tenant in the
// events after it, or says it is unknown.
func TestRestoreTenantBeforeTenants(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	// The same host state, first without the tenant interface.
	n, err := Open(ctx, Config{Dir: dir, Logger: quiet}, struct{ StateMachine }{testsm.NewTenants()})
	require.NoError(t, err)
	for i := range 200 {
		// Events of 1 KiB: a state larger than any buffer before the
		// host's Restore.
		_, _, err := n.Append(ctx, fmt.Appendf(nil, "plain-%d-%01000d", i, i))
		require.NoError(t, err)
	}
	_, err = n.Snapshot(ctx)
	require.NoError(t, err)
	require.NoError(t, n.Close())

	n, err = Open(ctx, Config{Dir: dir, Logger: quiet}, testsm.NewTenants())
	require.NoError(t, err)
	defer n.Close()
	_, err = n.RestoreTenant(ctx, "nobody", Target{}, testsm.NewTenants())
	require.ErrorIs(t, err, ErrUnknownTenant)
	_, last, err := n.AppendTenant(ctx, "a", []byte("a-1"))
	require.NoError(t, err)
	require.NoError(t, n.archiver().Flush(ctx))
	got := testsm.NewTenants()
	res, err := n.RestoreTenant(ctx, "a", AtLSN(last), got)
	require.NoError(t, err)
	assert.False(t, res.FromSnapshot)
	assert.Equal(t, []string{"a-1"}, got.Events("a"))
}

// TestForgetTwice: forgetting a forgotten tenant appends nothing and
// deletes its slots again (for a first deletion the archive refused);
// an unknown tenant is ErrUnknownTenant.
func TestForgetTwice(t *testing.T) {
	ctx := t.Context()
	n, err := Open(ctx, Config{Dir: t.TempDir(), Logger: quiet}, testsm.NewTenants())
	require.NoError(t, err)
	defer n.Close()
	_, _, err = n.AppendTenant(ctx, "a", []byte("x"))
	require.NoError(t, err)
	first, err := n.ForgetTenant(ctx, "a", "one")
	require.NoError(t, err)
	last := n.Log().Last()
	again, err := n.ForgetTenant(ctx, "a", "two")
	require.NoError(t, err)
	assert.Equal(t, last, n.Log().Last(), "nothing appended")
	assert.Zero(t, again.LSN)
	assert.Equal(t, first.KeysDestroyed, again.KeysDestroyed)
	assert.Equal(t, first.Deleted, again.Deleted, "the same copies, confirmed gone again")
	_, err = n.ForgetTenant(ctx, "never", "")
	assert.ErrorIs(t, err, ErrUnknownTenant)
}
