// Package observe exports a continuity.Node's state for monitoring:
// Prometheus collectors and an http.Handler for /metrics and the probes
// /livez, /readyz and /healthz.
// It is its own package so that a host that does not use Prometheus does
// not link it.
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(observe.NewCollector(node, observe.Options{}))
//	http.Handle("/", observe.Handler(node, reg, observe.Options{}))
//
// What to alert on: continuity_archive_lag_seconds above your RPO (a few
// seconds); continuity_healthy == 0 (the reasons are on /healthz);
// continuity_primary == 0 on every node of a cluster (no primary: writes
// are refused); continuity_maintenance_paused == 1 for longer than the
// maintenance takes (automatic fail-over is off);
// continuity_restorable_earliest_timestamp_seconds older
// than your promise allows to drift; continuity_snapshot_last_timestamp_seconds
// older than twice the snapshot schedule; a rising
// continuity_promotions_total (fail-overs). The directory monitoring/
// holds Prometheus alerting rules for these, with promtool tests, and a
// Grafana dashboard.
package observe

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/archive"
)

// Options configures the collector and the handler.
type Options struct {
	// LagLimit is the archive lag above which /healthz reports the node
	// degraded (or twice the archive's bound, if longer: see
	// Node.Healthy). Default 10 s.
	LagLimit time.Duration
	// WindowEvery is how often the restorable window and the last
	// snapshot are read from the archive (they need a listing). Default
	// 30 s.
	WindowEvery time.Duration
	// ReadyMaxBehind is how many records a standby's state may be behind
	// the primary and still be ready (/readyz). 0: no bound.
	ReadyMaxBehind continuity.LSN
	// Drills is where the host's restore drills report (the
	// *archive.Drills that archive.StartDrills returned); the drill
	// metrics are exported only when it is set. The Node runs no drills
	// itself.
	Drills DrillSource
	// ShowErrors puts the error text behind each probe reason in the
	// responses (file paths, bucket names, the host's own state machine
	// errors). Off, a reason keeps only its summary, up to its first
	// ": ", and the details stay in the node's log. Turn it on only where
	// the probes are behind authentication or on a loopback listener.
	ShowErrors bool
}

// DrillSource reports restore drills: the last one's result, and how many
// ran and failed; ok is false before the first. It is called on every
// scrape, concurrently with the drills. *archive.Drills is one.
type DrillSource interface {
	Last() (r archive.DrillResult, runs, fails int, ok bool)
}

var _ DrillSource = (*archive.Drills)(nil)

// redacted replaces the details of a probe reason.
const redacted = " (details in the node's log)"

// reasons are why as the probes show them: with their error text only if
// ShowErrors; never null.
func (o Options) reasons(why []string) []string {
	out := make([]string, 0, len(why))
	for _, r := range why {
		if summary, _, cut := strings.Cut(r, ": "); cut && !o.ShowErrors {
			r = summary + redacted
		}
		out = append(out, r)
	}
	return out
}

func (o *Options) defaults() {
	if o.LagLimit <= 0 {
		o.LagLimit = 10 * time.Second
	}
	if o.WindowEvery <= 0 {
		o.WindowEvery = 30 * time.Second
	}
}

// Collector is a prometheus.Collector of one Node.
type Collector struct {
	n    *continuity.Node
	opts Options

	mu       sync.Mutex
	readAt   time.Time
	window   archive.Window
	windowOK bool
	lastSnap time.Time
	snaps    int
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("continuity_"+name, help, labels, nil)
}

var (
	dAppends     = desc("appends_total", "Append calls.")
	dAppendFails = desc("append_failures_total", "Append calls that returned an error.")
	dEvents      = desc("appended_events_total", "Events acknowledged.")
	dEventBytes  = desc("appended_bytes_total", "Payload bytes of acknowledged events.")
	dAppendLat   = desc("append_duration_seconds", "Latency of acknowledged Append calls.")
	dWALRecords  = desc("wal_records_total", "Records written to the local WAL.")
	dWALBytes    = desc("wal_bytes_total", "Bytes written to the local WAL (frames).")
	dSyncs       = desc("wal_syncs_total", "fdatasync calls of the WAL.")
	dSyncSeconds = desc("wal_sync_seconds_total", "Time spent in WAL fdatasync.")
	dLast        = desc("wal_last_lsn", "Last LSN of the local WAL.")
	dApplied     = desc("applied_lsn", "Last LSN applied to the state machine.")
	dPrimary     = desc("primary", "1 if this node is the primary.")
	dEpoch       = desc("epoch", "The cluster's epoch (fencing token).")
	dPaused      = desc("maintenance_paused", "1 while the cluster is paused for maintenance (Node.Pause): no automatic fail-over.")
	dRefused     = desc("handshakes_refused_total", "Connections a cluster listener closed before or during the TLS handshake (bad certificate, too slow, over the caps).", "listener")
	dPromotions  = desc("promotions_total", "Promotions in the cluster's timeline (the first included).")
	dArchLag     = desc("archive_lag_seconds", "Age of the oldest record not yet in the archive (RPO now).")
	dArchBound   = desc("archive_ship_bound_seconds", "How far the archive may lag while uploads keep up: ShipInterval, or IdleShipInterval when set (the RPO promised).")
	dArchived    = desc("archive_archived_lsn", "Every record up to this LSN is in the archive.")
	dArchFails   = desc("archive_upload_failures_total", "Failed archive uploads (each retried).")
	dArchObjs    = desc("archive_objects_total", "Archive objects uploaded.")
	dArchBytes   = desc("archive_bytes_total", "Bytes uploaded to the archive.")
	dArchReqs    = desc("archive_requests_total", "Requests this node made of the archive's bucket, by operation as S3 bills them (put, get, list, delete, head).", "op")
	dArchXfer    = desc("archive_transfer_bytes_total", "Object bytes this node wrote to (up) and read from (down) the archive's bucket.", "direction")
	dCopyLag     = desc("copy_lag_seconds", "Age of the oldest archived record this copy lacks (Config.Copies), the archive's own lag once it holds everything: the copy's recovery point.", "copy")
	dCopyBytes   = desc("copy_bytes_total", "Bytes copied into this copy of the archive.", "copy")
	dCopyFails   = desc("copy_failures_total", "Failed copies of the archive into this copy (each tried again).", "copy")
	dCopyVerAt   = desc("copy_verify_last_timestamp_seconds", "When this copy was last verified (Node.VerifyCopy, with the scheduled Verify; Unix time).", "copy")
	dCopyVerOK   = desc("copy_verify_last_ok", "1 if the copy's last check ran and found nothing wrong, 0 if it found damage or could not run.", "copy")
	dCopyLatest  = desc("copy_restorable_latest_timestamp_seconds", "Latest instant the copy alone restores, as of its last check (Unix time).", "copy")
	dArchDefer   = desc("archive_deletes_deferred_total", "Deletes of superseded archive objects skipped: the store denies this node deletes (a privileged ctl forget removes them).")
	dEarliest    = desc("restorable_earliest_timestamp_seconds", "Earliest instant the archive can restore (Unix time).")
	dLatest      = desc("restorable_latest_timestamp_seconds", "Latest instant the archive can restore (Unix time).")
	dGaps        = desc("restorable_gaps", "Holes in the restorable window: stretches whose records are missing from the archive (verify names the objects).")
	dTailCut     = desc("archive_tail_missing", "1 if the archive's newest head vouches for records no object holds (its newest objects were deleted).")
	dHeadAt      = desc("archive_head_timestamp_seconds", "When the archive's newest head object was written (Unix time); it advances at most once per ShipInterval while records are archived.")
	dLastSnap    = desc("snapshot_last_timestamp_seconds", "Time of the newest snapshot in the archive (Unix time; 0 if none).")
	dSnaps       = desc("snapshots", "Snapshots in the archive.")
	dStandbyLag  = desc("standby_lag_seconds", "How far each standby's flushed position is behind the primary, in time.", "standby")
	dStandbyLSN  = desc("standby_flushed_lsn", "Each standby's flushed LSN.", "standby")
	dHealthy     = desc("healthy", "1 if /healthz would report healthy.")
	dSnapBytes   = desc("snapshot_last_state_bytes", "Size of the state in the last base snapshot this node took (NaN before its first).")
	dSnapStored  = desc("snapshot_last_stored_bytes", "Bytes that snapshot stored (new chunks, compressed and encrypted).")
	dSnapDedup   = desc("snapshot_last_dedup_ratio", "State bytes of that snapshot per new plaintext byte it stored (higher: more deduplicated).")
	dVerifyAt    = desc("verify_last_timestamp_seconds", "When Node.Verify last ran (Unix time; 0 if never).")
	dVerifyOK    = desc("verify_last_ok", "1 if the last Node.Verify found nothing wrong (NaN if it never ran).")
	dReady       = desc("ready", "1 if the node serves its cluster's history (Node.Ready; /readyz also bounds how far behind).")
	dDrillAt     = desc("drill_last_timestamp_seconds", "When the last restore drill ran (Unix time; 0 if none ran yet).")
	dDrillOK     = desc("drill_last_ok", "1 if the last restore drill restored and passed its check (NaN if none ran yet).")
	dDrillRTO    = desc("drill_last_rto_seconds", "Time the last restore drill took to restore and check (NaN if none ran yet).")
	dDrills      = desc("drills_total", "Restore drills run.")
	dDrillFails  = desc("drill_failures_total", "Restore drills that failed.")
)

// NewCollector returns a collector of n's metrics.
func NewCollector(n *continuity.Node, opts Options) *Collector {
	opts.defaults()
	return &Collector{n: n, opts: opts}
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dAppends, dAppendFails, dEvents, dEventBytes, dAppendLat, dWALRecords, dWALBytes, dSyncs,
		dSyncSeconds, dLast, dApplied, dPrimary, dEpoch, dPaused, dRefused, dPromotions, dArchLag, dArchBound, dArchived, dArchFails, dArchObjs, dArchBytes, dArchDefer, dArchReqs, dArchXfer, dCopyLag, dCopyBytes, dCopyFails, dCopyVerAt, dCopyVerOK, dCopyLatest,
		dEarliest, dLatest, dGaps, dTailCut, dHeadAt, dLastSnap, dSnaps, dStandbyLag, dStandbyLSN, dHealthy, dSnapBytes, dSnapStored, dSnapDedup, dVerifyAt, dVerifyOK,
		dReady, dDrillAt, dDrillOK, dDrillRTO, dDrills, dDrillFails} {
		ch <- d
	}
}

// Collect reads the node's state.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	n := c.n
	as := n.AppendStats()
	counter(dAppends, float64(as.Calls))
	counter(dAppendFails, float64(as.Failed))
	counter(dEvents, float64(as.Events))
	counter(dEventBytes, float64(as.Bytes))
	buckets := map[float64]uint64{}
	for i, b := range as.Bounds {
		buckets[b.Seconds()] = as.Buckets[i]
	}
	ok := as.Calls - as.Failed
	ch <- prometheus.MustNewConstHistogram(dAppendLat, ok, as.Latency.Seconds(), buckets)
	ws := n.Log().Stats()
	counter(dWALRecords, float64(ws.Records))
	counter(dWALBytes, float64(ws.Bytes))
	counter(dSyncs, float64(ws.Syncs))
	counter(dSyncSeconds, ws.SyncTime.Seconds())
	st := n.Status()
	gauge(dLast, float64(st.Last))
	gauge(dApplied, float64(st.Applied))
	gauge(dPrimary, b2f(st.Role == continuity.RolePrimary))
	gauge(dEpoch, float64(st.Epoch))
	gauge(dPaused, b2f(st.Maintenance.Paused)) // from the start: 0 on a single node
	ch <- prometheus.MustNewConstMetric(dRefused, prometheus.CounterValue, float64(st.Refused.Raft), "raft")
	ch <- prometheus.MustNewConstMetric(dRefused, prometheus.CounterValue, float64(st.Refused.Replication), "replication")
	if co := n.Coordinator(); co != nil {
		counter(dPromotions, float64(len(co.State().Timeline)))
	}
	gauge(dArchLag, st.Archive.Lag.Seconds())
	gauge(dArchBound, st.Archive.Bound.Seconds())
	gauge(dArchived, float64(st.Archive.Archived))
	counter(dArchFails, float64(st.Archive.Failures))
	counter(dArchObjs, float64(st.Archive.Objects))
	counter(dArchBytes, float64(st.Archive.Bytes))
	counter(dArchDefer, float64(st.Archive.DeletesDeferred))
	for op, n := range map[string]int64{"put": st.Requests.Put, "get": st.Requests.Get, "list": st.Requests.List, "delete": st.Requests.Delete, "head": st.Requests.Head} {
		ch <- prometheus.MustNewConstMetric(dArchReqs, prometheus.CounterValue, float64(n), op)
	}
	ch <- prometheus.MustNewConstMetric(dArchXfer, prometheus.CounterValue, float64(st.Requests.BytesUp), "up")
	ch <- prometheus.MustNewConstMetric(dArchXfer, prometheus.CounterValue, float64(st.Requests.BytesDown), "down")
	for _, c := range st.Copies {
		gauge(dCopyLag, c.Lag.Seconds(), c.Name)
		ch <- prometheus.MustNewConstMetric(dCopyBytes, prometheus.CounterValue, float64(c.Bytes), c.Name)
		ch <- prometheus.MustNewConstMetric(dCopyFails, prometheus.CounterValue, float64(c.Failures), c.Name)
	}
	c.refresh()
	c.mu.Lock()
	if c.windowOK {
		gauge(dEarliest, unix(c.window.Earliest))
		gauge(dLatest, unix(c.window.Latest))
		gauge(dGaps, float64(len(c.window.Gaps)))
		gauge(dTailCut, b2f(c.window.Cut != nil))
		if !c.window.HeadWritten.IsZero() {
			gauge(dHeadAt, unix(c.window.HeadWritten))
		}
	}
	gauge(dLastSnap, unixOrZero(c.lastSnap)) // 0: none yet, as old as can be
	gauge(dSnaps, float64(c.snaps))
	c.mu.Unlock()
	for _, s := range n.Standbys() {
		gauge(dStandbyLag, s.Lag.Seconds(), s.Node)
		gauge(dStandbyLSN, float64(s.Flushed), s.Node)
	}
	healthy, _ := n.Healthy(c.opts.LagLimit)
	gauge(dHealthy, b2f(healthy))
	// From the start, so that alerts see them: NaN until this node took a
	// snapshot or ran Verify, and a verify time of 0 (never).
	ss := st.Archive.SnapshotStats
	bytesIn, stored, dedup := math.NaN(), math.NaN(), math.NaN()
	if ss.BytesIn > 0 {
		bytesIn, stored, dedup = float64(ss.BytesIn), float64(ss.StoredBytes), float64(ss.BytesIn)/float64(max(ss.NewBytes, 1))
	}
	gauge(dSnapBytes, bytesIn)
	gauge(dSnapStored, stored)
	gauge(dSnapDedup, dedup)
	verifyAt, verifyOK := 0.0, math.NaN()
	if v, ok := n.LastVerify(); ok {
		verifyAt, verifyOK = unix(v.At), b2f(v.OK())
	}
	gauge(dVerifyAt, verifyAt)
	gauge(dVerifyOK, verifyOK)
	for _, ck := range st.CopyChecks {
		gauge(dCopyVerAt, unix(ck.Verify.At), ck.Name)
		gauge(dCopyVerOK, b2f(ck.Err == nil && ck.Verify.OK()), ck.Name)
		if ck.Err == nil && !ck.Window.Latest.IsZero() {
			gauge(dCopyLatest, unix(ck.Window.Latest), ck.Name)
		}
	}
	gauge(dReady, b2f(st.Ready))
	if c.opts.Drills != nil {
		// Like verify: from the start, 0 and NaN until the first drill.
		r, runs, fails, ok := c.opts.Drills.Last()
		at, drillOK, rto := 0.0, math.NaN(), math.NaN()
		if ok {
			at, drillOK, rto = unix(r.At), b2f(r.Err == nil), r.RTO.Seconds()
		}
		gauge(dDrillAt, at)
		gauge(dDrillOK, drillOK)
		gauge(dDrillRTO, rto)
		counter(dDrills, float64(runs))
		counter(dDrillFails, float64(fails))
	}
}

// refresh reads the window and the snapshots, at most every WindowEvery.
func (c *Collector) refresh() {
	c.mu.Lock()
	due := time.Since(c.readAt) >= c.opts.WindowEvery
	if due {
		c.readAt = time.Now()
	}
	c.mu.Unlock()
	if !due {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, werr := archive.Restorable(ctx, c.n.Repo())
	ms, _, lerr := c.n.Repo().ListReadable(ctx) // a damaged manifest: verify names it
	c.mu.Lock()
	defer c.mu.Unlock()
	c.window, c.windowOK = w, werr == nil
	if lerr == nil {
		c.snaps = len(ms)
		c.lastSnap = time.Time{}
		for _, m := range ms {
			if m.Time.After(c.lastSnap) {
				c.lastSnap = m.Time
			}
		}
	}
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// unixOrZero is t in Unix seconds, or 0 for the zero time.
func unixOrZero(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return unix(t)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Handler serves /metrics from reg (which should hold a Collector of n)
// and three probes, each 200 when it holds and 503 with JSON reasons
// when not:
//
//	/livez    the process works (Node.Live): restart it when this fails
//	/readyz   the node serves its cluster's history (Node.Ready), its
//	          state at most ReadyMaxBehind records behind the primary:
//	          route reads to it
//	/healthz  everything an operator should look at (Node.Healthy): also
//	          the archive's lag and a cluster without a primary
//
// Nothing here is authenticated. Metrics and probes carry positions,
// lags, roles and node IDs, never data or keys, and error details only
// with Options.ShowErrors. Serve the handler on a listener only the
// scraper and the orchestrator reach (a loopback or internal address,
// e.g. http.ListenAndServe("127.0.0.1:9464", h), or a pod's port), or
// wrap it in the host's authentication.
func Handler(n *continuity.Node, reg *prometheus.Registry, opts Options) http.Handler {
	opts.defaults()
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	probe := func(w http.ResponseWriter, key string, ok bool, why []string) {
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(map[string]any{key: ok, "reasons": opts.reasons(why)})
	}
	mux.HandleFunc("/livez", func(w http.ResponseWriter, r *http.Request) {
		ok, why := n.Live()
		probe(w, "live", ok, why)
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ok, why := n.Live()
		if ready, reason := n.Ready(); !ready && !slices.Contains(why, reason) { // a failed state machine: Live said so
			ok, why = false, append(why, reason)
		}
		if b := n.Behind(); opts.ReadyMaxBehind > 0 && b > opts.ReadyMaxBehind {
			ok, why = false, append(why, fmt.Sprintf("the state is %d records behind the primary (limit %d)", b, opts.ReadyMaxBehind))
		}
		probe(w, "ready", ok, why)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		ok, why := n.Healthy(opts.LagLimit)
		st := n.Status()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(map[string]any{
			"healthy": ok, "reasons": opts.reasons(why), "role": st.Role.String(), "epoch": st.Epoch, "primary": st.Primary,
			"last_lsn": st.Last, "applied_lsn": st.Applied, "archive_lag_seconds": st.Archive.Lag.Seconds(),
		})
	})
	return mux
}
