package archive

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/continuity-go/continuity/wal"
)

// BenchmarkEncodeSegment encodes one WAL object of 10,000 records of 128
// bytes of random payload: plain events, and sealed-like records (41
// clear header bytes repeated per one of 64 tenants, 8 of counter, then
// 144 random bytes: a tenant's sealed 128-byte event) compressed whole
// or with their ciphertext stored as it is (Options.Opaque, format
// version 4). ns/record and the encoded bytes per record; the chain's
// SHA-256 is in every case.
func BenchmarkEncodeSegment(b *testing.B) {
	const records, size = 10_000, 128
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return p
	}
	headers := make([][]byte, 64)
	for i := range headers {
		headers[i] = random(41)
	}
	base := time.Unix(1_700_000_000, 0)
	build := func(sealed bool) []wal.Record {
		recs := make([]wal.Record, records)
		for i := range recs {
			r := wal.Record{LSN: wal.LSN(i + 1), Epoch: 1, Time: base.Add(time.Duration(i) * 7 * time.Microsecond), Data: random(size)}
			if sealed {
				r.Kind = 1
				r.Data = append(append(append([]byte(nil), headers[i%64]...), byte(i), byte(i>>8), byte(i>>16), 0, 0, 0, 0, 0), random(size+16)...)
			}
			recs[i] = r
		}
		return recs
	}
	sealedTail := func(r wal.Record) int { return len(r.Data) - 49 }
	for _, c := range []struct {
		name   string
		sealed bool
		opaque func(wal.Record) int
	}{
		{"records=plain", false, nil},
		{"records=sealed/ciphertext=compressed", true, nil},
		{"records=sealed/ciphertext=opaque", true, sealedTail},
	} {
		recs := build(c.sealed)
		b.Run(c.name, func(b *testing.B) {
			enc := &segEncoder{opaque: c.opaque}
			var bytes int
			for b.Loop() {
				seg, err := encodeSegment(1, chainHash{}, recs, enc)
				if err != nil {
					b.Fatal(err)
				}
				bytes = len(seg.prefix) + len(seg.body)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/records, "ns/record")
			b.ReportMetric(float64(bytes)/records, "B/record")
		})
	}
}
