package tenant

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"
)

// BenchmarkSeal seals events of 128 B and 4 KiB under one tenant's key
// and under 64 tenants' keys in turn, as 64 writers of their own tenants
// do: the second shows what switching keys costs beyond AES-GCM itself.
func BenchmarkSeal(b *testing.B) {
	for _, size := range []int{128, 4096} {
		for _, tenants := range []int{1, 64} {
			b.Run(fmt.Sprintf("size=%d/tenants=%d", size, tenants), func(b *testing.B) {
				keys := make([]*Key, tenants)
				for i := range keys {
					keys[i] = NewKey(Tag{byte(i)})
				}
				event := make([]byte, size)
				rand.Read(event)
				var dst []byte
				g := Generation{Epoch: 1, LSN: 1}
				b.SetBytes(int64(size))
				b.ResetTimer()
				for i := range b.N {
					var err error
					if dst, err = Seal(dst[:0], keys[i%tenants], g, uint64(i), event); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSealCold seals one 128 B event under one of 64 keys after
// copying 4 MiB (more than this machine's caches hold), as a writer does
// after the rest of its append path ran: seal-ns is the seal alone
// (time.Now around it; ns/op includes the copy). BenchmarkSeal shows the
// same seal with AES-GCM's code and key tables cached. via=Seal finds
// the generation's record key through the Key; via=RecordSealer uses
// the one a node keeps beside each tenant (two pointers less to chase).
func BenchmarkSealCold(b *testing.B) {
	keys := make([]*Key, 64)
	sealers := make([]RecordSealer, len(keys))
	for i := range keys {
		keys[i] = NewKey(Tag{byte(i)})
	}
	event := make([]byte, 128)
	rand.Read(event)
	g := Generation{Epoch: 1, LSN: 1}
	for i, k := range keys { // each key's record key derived
		var err error
		if sealers[i], err = k.RecordSealer(g); err != nil {
			b.Fatal(err)
		}
	}
	// The keys and the generation outlive each run of b.Run's function
	// (the framework calls it again with a larger b.N): one counter for
	// all of them, so that no (key, generation, counter) seals twice, as
	// in the node.
	var counter uint64
	for _, via := range []string{"Seal", "RecordSealer"} {
		b.Run("via="+via, func(b *testing.B) {
			var dst []byte
			src, evict := make([]byte, 4<<20), make([]byte, 4<<20)
			var sealing time.Duration
			for i := range b.N {
				copy(evict, src)
				start := time.Now()
				var err error
				counter++
				if via == "Seal" {
					dst, err = Seal(dst[:0], keys[i%len(keys)], g, counter, event)
				} else {
					dst, err = sealers[i%len(keys)].Seal(dst[:0], counter, event)
				}
				if err != nil {
					b.Fatal(err)
				}
				sealing += time.Since(start)
			}
			b.ReportMetric(float64(sealing.Nanoseconds())/float64(b.N), "seal-ns")
		})
	}
}

// BenchmarkOpenCold opens one 128 B event of one of 64 tenants through
// Registry.Open after copying 1 MiB, as the node's applier opens each
// sealed event after the rest of its work ran: open-ns is the open
// alone (its lookup, AES-GCM and the event's allocation).
func BenchmarkOpenCold(b *testing.B) {
	s := newSlotStore(nil)
	g := NewRegistry(s.load)
	gen := Generation{Epoch: 1, LSN: 1}
	event := make([]byte, 128)
	rand.Read(event)
	var envs [][]byte
	for i := range 64 {
		k, rec := newTenant(b, s, fmt.Sprintf("tenant-%d", i))
		if _, err := g.ApplyKey(b.Context(), rec); err != nil {
			b.Fatal(err)
		}
		env, err := Seal(nil, k, gen, 1, event)
		if err != nil {
			b.Fatal(err)
		}
		envs = append(envs, env)
	}
	src, evict := make([]byte, 1<<20), make([]byte, 1<<20)
	var opening time.Duration
	for i := range b.N {
		copy(evict, src)
		start := time.Now()
		if _, _, err := g.Open(nil, envs[i%len(envs)]); err != nil {
			b.Fatal(err)
		}
		opening += time.Since(start)
	}
	b.ReportMetric(float64(opening.Nanoseconds())/float64(b.N), "open-ns")
}
