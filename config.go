package continuity

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/audit"
	"github.com/continuity-go/continuity/failover"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/tenant"
	"github.com/continuity-go/continuity/wal"
)

// Config configures a Node. The zero value but Dir is a working single
// node: a WAL in Dir/wal, an encrypted archive in the directory
// Dir/archive (key in Dir/archive.key), base snapshots every hour or
// 64 MiB of events, shipping at least every second.
type Config struct {
	// Dir holds the node's data: the WAL, and by default the archive and
	// its key, and the coordinator's Raft state. Required. Open creates it
	// and everything under it for the owner alone (directories 0700,
	// files 0600: the WAL is plaintext); an existing Dir open to its
	// group or others is logged as a Warn naming the mode, not refused.
	Dir string
	// Archive is the gocloud.dev/blob URL of the snapshot and WAL
	// archive: s3://, gs://, azblob:// (blank-import the driver), or
	// file:// (or local://) of an existing directory, opened with package
	// localblob, which fsyncs each object before its write returns.
	// Default: Dir/archive through localblob. In a cluster, give every
	// node the same archive (and Keys): the primary ships to it, and
	// after a fail-over the new primary continues its history.
	Archive string
	// Keys opens the archive's encryption keys. Default: a random key
	// made once and kept in Dir/archive.key (mode 0600); for an off-site
	// archive use a KMS keeper or a passphrase (snapshot.Keeper,
	// snapshot.Passphrase) so that losing the node does not lose the key.
	Keys snapshot.KeyProvider
	// SnapshotEvery and SnapshotEveryBytes schedule base snapshots.
	// Defaults 1 h and 64 MiB; negative turns one off.
	SnapshotEvery      time.Duration // period of base snapshots
	SnapshotEveryBytes int64         // archived event bytes between base snapshots
	// ShipInterval bounds the archive's lag. Default 1 s.
	ShipInterval time.Duration
	// IdleShipInterval, if set (at least ShipInterval), lets a quiet log
	// (under 64 KiB pending) ship less often, lagging by at most this
	// much: fewer PUTs for a trickle of writes (archive.Options).
	IdleShipInterval time.Duration
	// VerifyEvery schedules Verify on the node that ships the archive
	// (the primary): its result goes to Status, the metrics and the log
	// (an error naming each problem). Default 24 h; negative turns it
	// off. VerifyReadData makes the scheduled runs read every stored
	// byte (Verify's readData), which costs a full download each time.
	VerifyEvery    time.Duration
	VerifyReadData bool
	// UploadLimit and ReadLimit cap, in bytes per second, the base
	// snapshots' pack uploads and the pack reads of Verify's ReadData
	// (snapshot.Options). 0: no limit; at least 64 KiB/s otherwise. The
	// WAL's shipping and restores are never throttled.
	UploadLimit, ReadLimit int64
	// Copies are further destinations the archive is copied to (see
	// CopyConfig), by the node that archives.
	Copies []CopyConfig
	// ArchiveSync makes Append return only once its records are in the
	// archive as well as durable here: RPO 0 off-site without a standby
	// beside the archive. Concurrent Appends share uploads (one object
	// per round trip, compacted later as usual). When the archive cannot
	// be reached in time, Append fails with ErrNotArchived: the records
	// are in the log and will be archived.
	ArchiveSync bool
	// ArchiveSyncCopies, with ArchiveSync, makes Append also wait until
	// this many of Copies hold its records (RPO 0 in more than one
	// place); a copy that is down then fails Appends with ErrNotArchived
	// once ctx ends.
	ArchiveSyncCopies int
	// ObjectLock, if set, writes the archive's history under S3 Object
	// Lock, so that credentials that may delete cannot remove it before
	// its date. The archive must be an S3 bucket created with Object
	// Lock enabled.
	ObjectLock *ObjectLockConfig
	// Cluster, if set, makes the node one of a replicated cluster with
	// automatic fail-over. Nil: a single node, always primary.
	Cluster *ClusterConfig
	// TenantKeepers opens the keeper a tenant's key is wrapped by, by the
	// name given in TenantOptions.Keeper (customer-managed keys). The
	// host keeps the keepers open. Nil: only the archive's key wraps
	// tenant keys.
	TenantKeepers tenant.Keepers
	// OnRoleChange, if set, is called (in order, from one goroutine; keep
	// it quick) when the node's role, the cluster's epoch or its primary
	// changes. A single node is told once, at Open, that it is primary.
	OnRoleChange func(RoleChange)
	// WAL tunes the local log (segment size, durability); its Logger
	// defaults to Logger.
	WAL wal.Options
	// Logger receives the node's logs. Default slog.Default().
	Logger *slog.Logger
}

// ClusterConfig configures replication and fail-over.
type ClusterConfig struct {
	Node      string // this node's ID (its certificate's identity)
	RaftBind  string // coordinator address, e.g. ":7401"
	RaftAddr  string // address others dial for it (default RaftBind)
	ReplBind  string // replication address while primary, e.g. ":7400"
	ReplAddr  string // address standbys dial (default ReplBind)
	TLS       TLS    // the cluster's mutual TLS
	Bootstrap bool   // start a new cluster of this node (one node, once)
	// Sync is how many standbys must hold a write before Append returns
	// (0: asynchronous). With Sync > 0, fail-over never loses an
	// acknowledged write, and Append blocks while fewer standbys are up.
	Sync    int
	MaxLag  wal.LSN          // never promote a node further behind than this (0: no bound)
	Profile failover.Profile // timings; default failover.LAN
	// InsecurePlaintext turns TLS off. Tests only.
	InsecurePlaintext bool
}

// withDefaults returns cfg with every zero field that has a default
// filled in.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ShipInterval == 0 {
		c.ShipInterval = time.Second
	}
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = time.Hour
	}
	if c.SnapshotEveryBytes == 0 {
		c.SnapshotEveryBytes = 64 << 20
	}
	if c.VerifyEvery == 0 {
		c.VerifyEvery = 24 * time.Hour
	}
	return c
}

// ObjectLockConfig says how long the archive's objects are locked. Key
// slots and tenant key slots are never locked: destroying them must
// still shred (DestroyKeys, ForgetTenant).
type ObjectLockConfig struct {
	// Mode is snapshot.Governance (users with
	// s3:BypassGovernanceRetention can still delete) or
	// snapshot.Compliance (nobody can until the date).
	Mode snapshot.LockMode
	// Window is the point-in-time window retention keeps: WAL objects
	// are locked this long from their upload, plus SnapshotEvery (the
	// window's base snapshot may be that much older than the window).
	Window time.Duration
	// Keep is the longest any base snapshot is kept (the reach of the
	// retention policy: ten years for --keep-yearly 10): packs,
	// manifests and audit records are locked this long from their write,
	// and packs a new snapshot reuses are extended to cover it.
	Keep time.Duration
}

// validate names the wrong fields of l (nil: none), as field.
func (l *ObjectLockConfig) validate(field string) []error {
	if l == nil {
		return nil
	}
	var errs []error
	if l.Mode != snapshot.Governance && l.Mode != snapshot.Compliance {
		errs = append(errs, fmt.Errorf("%s.Mode %q: want snapshot.Governance or snapshot.Compliance", field, l.Mode))
	}
	if l.Window <= 0 || l.Keep < l.Window {
		errs = append(errs, fmt.Errorf("%s: Window %v and Keep %v: want 0 < Window <= Keep", field, l.Window, l.Keep))
	}
	return errs
}

// Policy is the snapshot repository's lock policy for l (nil: none),
// with base snapshots every snapEvery (negative: none scheduled): what
// the archive, or a copy (snapshot.CopyOptions.Lock), is written under.
func (l *ObjectLockConfig) Policy(snapEvery time.Duration) *snapshot.ObjectLock {
	if l == nil {
		return nil
	}
	// A WAL object is needed while the window's base snapshot is older
	// than it: up to the window plus a snapshot period; with scheduled
	// snapshots off, as long as any snapshot.
	wal := l.Window + snapEvery
	if snapEvery < 0 {
		wal = l.Keep
	}
	return &snapshot.ObjectLock{Mode: l.Mode, Snapshots: l.Keep,
		Sealed: archive.LockSealed(wal, func(name string) time.Duration {
			if strings.HasPrefix(name, audit.Prefix) {
				return l.Keep
			}
			return 0 // tenant key slots: forgetting a tenant deletes them
		})}
}

func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("Config.Dir is empty: the node needs a directory for its log"))
	}
	if c.Archive != "" {
		if u, err := url.Parse(c.Archive); err != nil || u.Scheme == "" {
			errs = append(errs, fmt.Errorf("Config.Archive %q is not a bucket URL (file:///path, s3://bucket?region=...)", c.Archive))
		}
	}
	if c.ShipInterval < 0 {
		errs = append(errs, fmt.Errorf("Config.ShipInterval %v is negative", c.ShipInterval))
	}
	if ship := cmp.Or(c.ShipInterval, time.Second); c.IdleShipInterval != 0 && c.IdleShipInterval < ship {
		errs = append(errs, fmt.Errorf("Config.IdleShipInterval %v is shorter than ShipInterval %v; leave it 0 to ship at ShipInterval always", c.IdleShipInterval, ship))
	}
	errs = append(errs, validateCopies(c.Copies)...)
	if c.ArchiveSyncCopies < 0 || c.ArchiveSyncCopies > len(c.Copies) || c.ArchiveSyncCopies > 0 && !c.ArchiveSync {
		errs = append(errs, fmt.Errorf("Config.ArchiveSyncCopies %d: it needs ArchiveSync and at most len(Copies) = %d", c.ArchiveSyncCopies, len(c.Copies)))
	}
	errs = append(errs, c.ObjectLock.validate("Config.ObjectLock")...)
	for _, l := range []struct {
		name  string
		limit int64
	}{{"Config.UploadLimit", c.UploadLimit}, {"Config.ReadLimit", c.ReadLimit}} {
		if l.limit < 0 || l.limit > 0 && l.limit < 64<<10 {
			errs = append(errs, fmt.Errorf("%s %d B/s: want 0 (no limit) or at least 65536 (64 KiB/s)", l.name, l.limit))
		}
	}
	if cl := c.Cluster; cl != nil {
		if c.Archive == "" {
			errs = append(errs, errors.New("Config.Archive is empty: a cluster has one archive that every node shares (s3://..., or file:// of a directory every node reaches); the default Dir/archive is for a single node"))
		}
		if cl.Node == "" {
			errs = append(errs, errors.New("Config.Cluster.Node is empty"))
		}
		if cl.RaftBind == "" {
			errs = append(errs, errors.New("Config.Cluster.RaftBind is empty"))
		}
		if cl.ReplBind == "" {
			errs = append(errs, errors.New("Config.Cluster.ReplBind is empty"))
		}
		if cl.Sync < 0 {
			errs = append(errs, fmt.Errorf("Config.Cluster.Sync %d is negative", cl.Sync))
		}
		if !cl.InsecurePlaintext {
			if err := cl.TLS.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("Config.Cluster.TLS: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}
