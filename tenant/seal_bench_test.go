package tenant

import (
	"crypto/rand"
	"fmt"
	"testing"
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
