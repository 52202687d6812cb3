package continuity

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/continuity-go/continuity/tenant"
)

// counter is the cheapest TenantStateMachine: it counts what it is given,
// so that a benchmark measures the node, not the host.
type counter struct{ plain, sealed atomic.Int64 }

func (c *counter) Apply(Record) error                     { c.plain.Add(1); return nil }
func (c *counter) Snapshot(io.Writer) error               { return nil }
func (c *counter) Restore(io.Reader) error                { return nil }
func (c *counter) ApplyTenant(string, Record) error       { c.sealed.Add(1); return nil }
func (c *counter) SnapshotTenant(string, io.Writer) error { return nil }
func (c *counter) RestoreTenant(string, io.Reader) error  { return nil }
func (c *counter) DropTenant(string) error                { return nil }

// BenchmarkAppendTenant compares Append with AppendTenant of the same
// payload, one event a call, from 64 writers (b.SetParallelism on the
// machine's cores), each writer its own tenant. bench/cmd/tenantbench
// runs the full comparison; this one is for profiles.
func BenchmarkAppendTenant(b *testing.B) {
	// A seal of a node's first generation, some hundred thousand seals
	// in: what most of the run's sealed events add.
	sealedSize := 128 + tenant.Overhead(tenant.Generation{Epoch: 1, LSN: 100}, 1<<20)
	for _, c := range []struct {
		sealed bool
		size   int
	}{{false, 128}, {true, 128}, {false, sealedSize}} {
		name := fmt.Sprintf("plain-%dB", c.size)
		if c.sealed {
			name = fmt.Sprintf("sealed-%dB", c.size)
		}
		sealed := c.sealed
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			n, err := Open(ctx, Config{Dir: b.TempDir(), Logger: quiet, SnapshotEvery: -1, SnapshotEveryBytes: -1, VerifyEvery: -1}, &counter{})
			if err != nil {
				b.Fatal(err)
			}
			defer n.Close()
			const writers = 64
			for i := range writers {
				if err := n.CreateTenant(ctx, fmt.Sprintf("tenant-%d", i), TenantOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			var writer atomic.Int64
			size := c.size
			b.SetBytes(int64(size))
			b.SetParallelism(writers / runtime.GOMAXPROCS(0))
			before := n.log.Stats()
			cpuBefore := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				id := fmt.Sprintf("tenant-%d", writer.Add(1)%writers)
				// Every call other random bytes, as no sealed event
				// repeats (a repeated one compresses to nothing).
				ring := make([]byte, 256<<10)
				rand.Read(ring)
				off := 0
				for pb.Next() {
					event := ring[off : off+size]
					off = (off + 8191) % (len(ring) - size)
					var err error
					if sealed {
						_, _, err = n.AppendTenant(ctx, id, event)
					} else {
						_, _, err = n.Append(ctx, event)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpuBefore).Nanoseconds())/float64(b.N), "cpu-ns/op")
			st := n.log.Stats()
			batches := float64(st.Batches - before.Batches)
			b.ReportMetric(float64(st.Records-before.Records)/batches, "records/batch")
			b.ReportMetric(float64((st.SyncTime-before.SyncTime).Microseconds())/float64(st.Syncs-before.Syncs), "µs/sync")
		})
	}
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
