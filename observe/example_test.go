package observe_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/observe"
)

// discard is a state machine that keeps nothing.
type discard struct{}

func (discard) Apply(continuity.Record) error { return nil }
func (discard) Snapshot(io.Writer) error      { return nil }
func (discard) Restore(io.Reader) error       { return nil }

// The probes of a single node, which is always live and ready; a
// cluster node is ready once its role is confirmed.
func ExampleHandler() {
	dir, err := os.MkdirTemp("", "observe-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	n, err := continuity.Open(context.Background(), continuity.Config{Dir: dir, Logger: slog.New(slog.DiscardHandler)}, discard{})
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(observe.NewCollector(n, observe.Options{}))
	srv := httptest.NewServer(observe.Handler(n, reg, observe.Options{}))
	defer srv.Close()
	for _, path := range []string{"/livez", "/readyz"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(path, resp.StatusCode)
	}
	// Output:
	// /livez 200
	// /readyz 200
}
