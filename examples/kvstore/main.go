// Command kvstore is an event-sourced key-value HTTP service built on
// continuity.Node: every PUT and DELETE is an event in the replicated
// log, the state is folded from the events, and three processes make a
// cluster with automatic fail-over.
//
// The three nodes share one archive: a directory all of them reach (as
// here), or an S3 bucket (-archive 's3://bucket?region=...'). Make the
// cluster's certificates and archive key once, then start the nodes:
//
//	go run ./examples/kvstore certs -out /tmp/kv/certs -nodes n1,n2,n3   # also writes /tmp/kv/certs/archive.key
//	mkdir -p /tmp/kv/archive
//	go build -o /tmp/kv/kvstore ./examples/kvstore
//	/tmp/kv/kvstore -node n1 -dir /tmp/kv/n1 -certs /tmp/kv/certs -archive file:///tmp/kv/archive \
//	    -key-file /tmp/kv/certs/archive.key -http 127.0.0.1:8081 -raft 127.0.0.1:7081 -repl 127.0.0.1:7181 \
//	    -bootstrap -peers n1=http://127.0.0.1:8081,n2=http://127.0.0.1:8082,n3=http://127.0.0.1:8083
//	/tmp/kv/kvstore -node n2 -dir /tmp/kv/n2 -certs /tmp/kv/certs -archive file:///tmp/kv/archive \
//	    -key-file /tmp/kv/certs/archive.key -http 127.0.0.1:8082 -raft 127.0.0.1:7082 -repl 127.0.0.1:7182 \
//	    -join 127.0.0.1:7081 -peers n1=http://127.0.0.1:8081,n2=http://127.0.0.1:8082,n3=http://127.0.0.1:8083
//	/tmp/kv/kvstore -node n3 -dir /tmp/kv/n3 -certs /tmp/kv/certs -archive file:///tmp/kv/archive \
//	    -key-file /tmp/kv/certs/archive.key -http 127.0.0.1:8083 -raft 127.0.0.1:7083 -repl 127.0.0.1:7183 \
//	    -join 127.0.0.1:7081 -peers n1=http://127.0.0.1:8081,n2=http://127.0.0.1:8082,n3=http://127.0.0.1:8083
//
// (each in its own terminal, or with & at the end; n1 first).
// A node that was stopped or killed restarts with the same command (its
// -bootstrap or -join is then ignored: it already belongs to the cluster).
//
//	lsn=$(curl -s -X PUT -d blue http://127.0.0.1:8081/kv/color)   # the LSN it took; on a standby: 307 to the primary
//	curl "http://127.0.0.1:8082/kv/color?min_lsn=$lsn"             # read-your-writes on any node: waits for that LSN
//	curl http://127.0.0.1:8082/status                    # role, epoch, ready
//	curl http://127.0.0.1:8082/metrics                   # Prometheus; /livez, /readyz and /healthz probes
//
// Each tenant has its own keys (header X-Tenant), sealed under the
// tenant's own data key in the log, on standbys, in the archive and in
// base snapshots. A tenant restores alone as of a time or LSN, and
// deleting it shreds every copy (the reply is the deletion receipt):
//
//	lsn=$(curl -s -X PUT -H 'X-Tenant: acme' -d red http://127.0.0.1:8081/kv/color)
//	curl -H 'X-Tenant: acme' "http://127.0.0.1:8082/kv/color?min_lsn=$lsn"
//	curl http://127.0.0.1:8081/tenants/acme/restore     # newest; ?time=2026-12-05T08:00:00Z or ?lsn=N: as of then
//	curl -X DELETE 'http://127.0.0.1:8081/tenants/acme?reason=ticket+4711'   # on the primary
//
// Automatic fail-over can be paused for maintenance (Node.Pause, like
// Patroni's pause): the primary keeps serving, but if it dies no standby
// replaces it until the pause ends, after its ttl (none: until DELETE).
// The pause is in the cluster state; any node sets, shows and ends it:
//
//	curl -X POST 'http://127.0.0.1:8082/cluster/maintenance?ttl=30m&reason=kernel+upgrade'
//	curl http://127.0.0.1:8083/cluster/maintenance       # {"paused":true,"reason":...,"by":"n2","until":...}
//	curl -X DELETE http://127.0.0.1:8081/cluster/maintenance
//
// (POST and DELETE, here and on /tenants, answer requests from this
// machine only: they have no authentication of their own.)
//
// A write while there is no primary (a fail-over) gets 503 with
// Retry-After; a read on a node that is not ready (restarting, or
// rebuilding its state) gets 503 saying why. The archive opens with ctl:
//
//	go run ./examples/ctl --archive file:///tmp/kv/archive --key-file /tmp/kv/certs/archive.key window
//
// On S3: the same commands with -archive "$CONTINUITY_TEST_S3_URL"
// inside `.ci/run with-s3 sh -c '...'`, which starts a loopback S3 server
// (versitygw) and exports its URL and credentials.
//
// Without -certs and -raft it runs as a single node, with its archive in
// -dir unless -archive says otherwise. With -archive-sync a write is
// acknowledged only once it is in the archive too (RPO 0 off-site,
// Config.ArchiveSync): each write then waits for an upload, which
// concurrent writes share. With -copy URL the archive is also copied into
// that bucket as it archives (Config.Copies; /metrics has the copy's lag).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	_ "gocloud.dev/blob/s3blob" // s3:// archives

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/observe"
	"github.com/continuity-go/continuity/peer"
	"github.com/continuity-go/continuity/replication"
	"github.com/continuity-go/continuity/snapshot"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "certs" {
		if err := certsCmd(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "kvstore certs:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kvstore:", err)
		os.Exit(1)
	}
}

// event is one change of the store, as logged.
type event struct {
	Op    string `json:"op"` // "put" or "delete"
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

// store is the state machine: the maps folded from the events, one
// shared and one per tenant (tenants.go).
type store struct {
	mu      sync.RWMutex
	m       map[string]string
	tenants map[string]map[string]string
	lsn     continuity.LSN
}

func (s *store) Apply(rec continuity.Record) error {
	var e event
	if err := json.Unmarshal(rec.Data, &e); err != nil {
		return fmt.Errorf("LSN %d: %w", rec.LSN, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	e.fold(s.m)
	s.lsn = rec.LSN
	return nil
}

// fold applies the event to m.
func (e event) fold(m map[string]string) {
	switch e.Op {
	case "put":
		m[e.Key] = e.Value
	case "delete":
		delete(m, e.Key)
	}
}

func (s *store) Snapshot(w io.Writer) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return json.NewEncoder(w).Encode(s.m)
}

// Restore replaces the shared map and clears every tenant's
// (RestoreTenant brings each back).
func (s *store) Restore(r io.Reader) error {
	m := map[string]string{}
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return err
	}
	s.mu.Lock()
	s.m, s.tenants = m, nil
	s.mu.Unlock()
	return nil
}

func run() error {
	var (
		node      = flag.String("node", "n1", "this node's ID")
		dir       = flag.String("dir", "", "data directory (required)")
		httpAddr  = flag.String("http", "127.0.0.1:8080", "HTTP listen address")
		raftAddr  = flag.String("raft", "", "coordinator address (cluster mode)")
		replAddr  = flag.String("repl", "", "replication address (cluster mode)")
		certs     = flag.String("certs", "", "directory made by 'kvstore certs' (cluster mode)")
		cluster   = flag.String("cluster", "kvstore", "cluster ID in the certificates")
		bootstrap = flag.Bool("bootstrap", false, "start a new cluster with this node")
		join      = flag.String("join", "", "Raft address (-raft) of a member to join through, over the cluster's mutual TLS")
		peers     = flag.String("peers", "", "node=http://addr,... for redirects to the primary")
		sync      = flag.Int("sync", 1, "standbys that must hold a write before it is acknowledged (cluster mode)")
		archive   = flag.String("archive", "", "the archive's bucket URL, shared by every node (file:///dir, s3://bucket?...); required in cluster mode")
		keyFile   = flag.String("key-file", "", "the archive's 32-byte key file ('kvstore certs' writes archive.key)")
		passEnv   = flag.String("passphrase-env", "", "environment variable holding the archive's passphrase (instead of -key-file)")
		verbose   = flag.Bool("v", false, "log at debug level")
		copyURL   = flag.String("copy", "", "a further bucket URL the archive is copied into as it is written, off-site (Config.Copies)")
		arcSync   = flag.Bool("archive-sync", false, "acknowledge a write only once it is in the archive too (RPO 0 off-site; each write waits for an upload)")
	)
	flag.Parse()
	if *dir == "" {
		return errors.New("-dir is required")
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("node", *node)
	cfg := continuity.Config{Dir: *dir, Logger: logger, Archive: *archive, ArchiveSync: *arcSync}
	if *copyURL != "" {
		cfg.Copies = []continuity.CopyConfig{{Name: "offsite", URL: *copyURL}}
	}
	keys, err := archiveKeys(*keyFile, *passEnv)
	if err != nil {
		return err
	}
	cfg.Keys = keys
	if *raftAddr != "" {
		if *archive == "" {
			return errors.New("cluster mode needs -archive: one archive every node shares (file:///dir all nodes reach, or s3://bucket?...), and its key (-key-file or -passphrase-env)")
		}
		if keys == nil {
			return errors.New("cluster mode needs the archive's key: -key-file (e.g. the archive.key 'kvstore certs' wrote) or -passphrase-env VAR")
		}
		t, err := loadTLS(*certs, *cluster, *node)
		if err != nil {
			return err
		}
		cfg.Cluster = &continuity.ClusterConfig{Node: *node, RaftBind: *raftAddr, ReplBind: *replAddr, TLS: t, Bootstrap: *bootstrap, Sync: *sync}
	}
	sm := &store{}
	// An interrupt while Open waits (a bootstrap waiting to lead) stops it.
	openCtx, stopOpen := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	n, err := continuity.Open(openCtx, cfg, sm)
	stopOpen()
	if err != nil {
		return err
	}
	defer n.Close()
	if *join != "" {
		// Over the cluster's mutual TLS: the member adds only the node
		// this node's certificate names (no HTTP endpoint can add one).
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := n.JoinVia(ctx, *join)
		cancel()
		if err != nil {
			return err
		}
	}
	routes := map[string]string{}
	for _, p := range strings.Split(*peers, ",") {
		if id, addr, ok := strings.Cut(p, "="); ok {
			routes[id] = addr
		}
	}
	srv := &http.Server{Addr: *httpAddr, Handler: handler(n, sm, routes), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http", "err", err)
			os.Exit(1)
		}
	}()
	logger.Info("kvstore serving", "http", *httpAddr)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	select {
	case <-stop:
	case err := <-n.Fatal():
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	return nil
}

func handler(n *continuity.Node, sm *store, routes map[string]string) http.Handler {
	mux := http.NewServeMux()
	write := func(w http.ResponseWriter, r *http.Request, e event) {
		tenant, ok := tenantOf(w, r)
		if !ok {
			return
		}
		b, _ := json.Marshal(e)
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		var lsn continuity.LSN
		var err error
		if tenant == "" {
			_, lsn, err = n.Append(ctx, b)
		} else {
			_, lsn, err = n.AppendTenant(ctx, tenant, b)
		}
		var np *continuity.NotPrimaryError
		redirected := r.URL.Query().Has("redirected")
		switch {
		case errors.As(err, &np) && routes[np.Primary] != "" && !redirected:
			// One hop at most: the primary named here sends no client on.
			u := *r.URL
			q := u.Query()
			q.Set("redirected", "1")
			u.RawQuery = q.Encode()
			http.Redirect(w, r, routes[np.Primary]+u.RequestURI(), http.StatusTemporaryRedirect)
		case errors.As(err, &np):
			retry := max(np.RetryAfter, 100*time.Millisecond)
			w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
			msg := fmt.Sprintf("no primary yet; retry after %d ms", retry.Milliseconds())
			if redirected && np.Primary != "" {
				msg = fmt.Sprintf("no primary yet (this node was named primary but %s is, as it knows); retry after %d ms", np.Primary, retry.Milliseconds())
			}
			http.Error(w, msg, http.StatusServiceUnavailable)
		case errors.Is(err, replication.ErrTooFewStandbys):
			// Durable here, not acknowledged: it may still take effect.
			w.Header().Set("Retry-After", "1")
			http.Error(w, err.Error()+"; the write is not acknowledged: start or reconnect the standbys, or run the nodes with a lower -sync", http.StatusServiceUnavailable)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			// Acknowledged; reply once this node's state holds it, so
			// that a read here right after sees the write.
			if err := n.WaitFor(ctx, lsn); err != nil {
				http.Error(w, fmt.Sprintf("acknowledged at LSN %d, not applied here: %v", lsn, err), waitStatus(err))
				return
			}
			w.Header().Set("X-LSN", strconv.FormatUint(uint64(lsn), 10))
			fmt.Fprintf(w, "%d\n", lsn)
		}
	}
	mux.HandleFunc("PUT /kv/{key}", func(w http.ResponseWriter, r *http.Request) {
		v, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		write(w, r, event{Op: "put", Key: r.PathValue("key"), Value: string(v)})
	})
	mux.HandleFunc("DELETE /kv/{key}", func(w http.ResponseWriter, r *http.Request) {
		write(w, r, event{Op: "delete", Key: r.PathValue("key")})
	})
	mux.HandleFunc("GET /kv/{key}", func(w http.ResponseWriter, r *http.Request) {
		if ok, why := n.Ready(); !ok {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		if s := r.URL.Query().Get("min_lsn"); s != "" {
			lsn, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				http.Error(w, "min_lsn: "+err.Error(), http.StatusBadRequest)
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			defer cancel()
			if err := n.WaitFor(ctx, continuity.LSN(lsn)); err != nil {
				http.Error(w, "not applied here: "+err.Error(), waitStatus(err))
				return
			}
		}
		tenant, ok := tenantOf(w, r)
		if !ok {
			return
		}
		v, ok := sm.get(tenant, r.PathValue("key"))
		if !ok {
			where := "the shared map"
			if tenant != "" {
				where = fmt.Sprintf("tenant %q's map (none if the tenant never wrote or was deleted)", tenant)
			}
			http.Error(w, fmt.Sprintf("no key %q in %s", r.PathValue("key"), where), http.StatusNotFound)
			return
		}
		io.WriteString(w, v)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		st := n.Status()
		json.NewEncoder(w).Encode(map[string]any{
			"role": st.Role.String(), "epoch": st.Epoch, "primary": st.Primary, "last": st.Last, "applied": st.Applied,
			"ready": st.Ready, "not_ready": st.NotReady,
			"archived": st.Archive.Archived, "archive_lag_ms": st.Archive.Lag.Milliseconds(),
		})
	})
	tenantRoutes(mux, n)
	reg := prometheus.NewRegistry()
	reg.MustRegister(observe.NewCollector(n, observe.Options{}))
	obs := observe.Handler(n, reg, observe.Options{})
	for _, path := range []string{"/metrics", "/healthz", "/livez", "/readyz"} {
		mux.Handle("GET "+path, obs)
	}
	maintenanceRoutes(mux, n)
	return mux
}

// maintenance is the JSON of GET /cluster/maintenance (and of the POST
// and DELETE replies).
type maintenance struct {
	Paused bool      `json:"paused"`
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by,omitempty"`   // the node the pause was set on
	Until  time.Time `json:"until,omitzero"` // none: until DELETE
}

// maintenanceRoutes serves the cluster's maintenance pause: GET shows
// it, POST ?ttl=30m&reason=... sets it (no ttl: until DELETE), DELETE
// ends it. POST and DELETE reply once this node's status shows the
// change (or after 10 s, with what it shows then).
// fromLoopback refuses (403) a request that does not come from this
// machine: the endpoints that change the cluster have no authentication
// of their own, so only a local operator (or a proxy that authenticates)
// may call them.
func fromLoopback(w http.ResponseWriter, r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); err == nil && ip != nil && ip.IsLoopback() {
		return true
	}
	http.Error(w, "changing the cluster is allowed from this machine only (loopback); put an authenticating proxy in front for remote use", http.StatusForbidden)
	return false
}

func maintenanceRoutes(mux *http.ServeMux, n *continuity.Node) {
	reply := func(w http.ResponseWriter, m continuity.Maintenance) {
		replyJSON(w, maintenance{Paused: m.Paused, Reason: m.Reason, By: m.By, Until: m.Until})
	}
	// shown waits until this node's status satisfies done.
	shown := func(ctx context.Context, done func(continuity.Maintenance) bool) continuity.Maintenance {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			m := n.Status().Maintenance
			if done(m) {
				return m
			}
			select {
			case <-ctx.Done():
				return m
			case <-t.C:
			}
		}
	}
	mux.HandleFunc("GET /cluster/maintenance", func(w http.ResponseWriter, r *http.Request) {
		reply(w, n.Status().Maintenance)
	})
	mux.HandleFunc("POST /cluster/maintenance", func(w http.ResponseWriter, r *http.Request) {
		if !fromLoopback(w, r) {
			return
		}
		if n.Coordinator() == nil {
			http.Error(w, "a single node has no fail-over to pause", http.StatusBadRequest)
			return
		}
		q := r.URL.Query()
		var ttl time.Duration
		if s := q.Get("ttl"); s != "" {
			var err error
			if ttl, err = time.ParseDuration(s); err != nil || ttl < 0 {
				http.Error(w, fmt.Sprintf("ttl %q: want a duration such as 30m (none: until DELETE)", s), http.StatusBadRequest)
				return
			}
		}
		reason := q.Get("reason")
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		if err := n.Pause(ctx, ttl, reason); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		reply(w, shown(ctx, func(m continuity.Maintenance) bool { return m.Paused && m.Reason == reason }))
	})
	mux.HandleFunc("DELETE /cluster/maintenance", func(w http.ResponseWriter, r *http.Request) {
		if !fromLoopback(w, r) {
			return
		}
		if n.Coordinator() == nil {
			http.Error(w, "a single node has no fail-over to resume", http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		if err := n.Resume(ctx); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		reply(w, shown(ctx, func(m continuity.Maintenance) bool { return !m.Paused }))
	})
}

// archiveKeys is the archive's key from -key-file or -passphrase-env
// (nil if neither: a single node's default key in -dir).
func archiveKeys(keyFile, passEnv string) (snapshot.KeyProvider, error) {
	switch {
	case keyFile != "" && passEnv != "":
		return nil, errors.New("give -key-file or -passphrase-env, not both")
	case keyFile != "":
		k, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("-key-file: %w (make one with 'kvstore certs', which writes archive.key)", err)
		}
		if len(k) != 32 {
			return nil, fmt.Errorf("-key-file %s holds %d bytes, want 32", keyFile, len(k))
		}
		return snapshot.RawKey([32]byte(k)), nil
	case passEnv != "":
		p := os.Getenv(passEnv)
		if p == "" {
			return nil, fmt.Errorf("-passphrase-env: $%s is empty", passEnv)
		}
		return snapshot.Passphrase(p), nil
	}
	return nil, nil
}

// loadTLS reads the CA and this node's certificate from dir.
func loadTLS(dir, cluster, node string) (peer.TLS, error) {
	if dir == "" {
		return peer.TLS{}, errors.New("-certs is required in cluster mode (make them with 'kvstore certs')")
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return peer.TLS{}, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return peer.TLS{}, fmt.Errorf("%s/ca.pem holds no certificate", dir)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, node+".pem"), filepath.Join(dir, node+"-key.pem"))
	if err != nil {
		return peer.TLS{}, err
	}
	nodes, err := os.ReadFile(filepath.Join(dir, "nodes"))
	if err != nil {
		return peer.TLS{}, err
	}
	return peer.TLS{Certificate: cert, CA: pool, Cluster: cluster, AllowedNodes: strings.Fields(string(nodes))}, nil
}

// waitStatus is the HTTP status of a WaitFor error: 500 once the state
// machine failed (nothing more is applied until the node restarts), 504
// while the record may still be applied.
func waitStatus(err error) int {
	if errors.Is(err, continuity.ErrStateFailed) {
		return http.StatusInternalServerError
	}
	return http.StatusGatewayTimeout
}
