package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"slices"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/chacha20poly1305"
)

// The crypto suite: the identity hash and the AEAD Save uses, beside the
// alternatives, and the codecs for scale, each alone on one goroutine
// over the state in 64 KiB pieces (about a chunk each).

// cryptoPiece is the size of the pieces the crypto suite works on.
const cryptoPiece = 64 << 10

// Crypto operations, in report order.
const (
	cryBLAKE3  = "keyed BLAKE3-256"
	cryHMAC    = "HMAC-SHA-256"
	cryXXH     = "xxhash64"
	cryGCM     = "AES-256-GCM seal"
	cryXChaCha = "XChaCha20-Poly1305 seal"
	cryLZ4     = "lz4 compress"
	cryZstd    = "zstd compress"
)

var cryptoOps = []string{cryBLAKE3, cryHMAC, cryXXH, cryGCM, cryXChaCha, cryLZ4, cryZstd}

// cryptoRatio is the key of an operation's compression ratio (state
// bytes ÷ stored bytes) in a run's map.
func cryptoRatio(op string) string { return op + " ratio" }

// cryptoDescription explains each operation in the report; sys says
// whether the CPU has the instructions the operation can use.
func cryptoDescription(op string, sys system) string {
	switch op {
	case cryBLAKE3:
		return "github.com/zeebo/blake3 NewKeyed, Reset, Write, Sum: the chunk ID, as snapshot/crypto.go computes it"
	case cryHMAC:
		return "crypto/hmac over crypto/sha256, Reset, Write, Sum: the keyed alternative; " + cpuNote(sys, "sha_ni", "SHA-NI")
	case cryXXH:
		return "github.com/cespare/xxhash/v2 Sum64: 64 bits and not keyed, a checksum, not an identity"
	case cryGCM:
		return "crypto/aes + crypto/cipher, 12-byte counter nonce, 49 bytes of additional data: how a pack seals each blob; " + cpuNote(sys, "aes", "AES-NI")
	case cryXChaCha:
		return "golang.org/x/crypto/chacha20poly1305 NewX (24-byte nonce), same additional data: the alternative"
	case cryLZ4:
		return "github.com/pierrec/lz4/v4 block, stored raw if it does not shrink: snapshot/codec.go's default codec"
	case cryZstd:
		return "github.com/klauspost/compress/zstd EncodeAll, SpeedDefault, one goroutine: snapshot/codec.go's Zstd codec"
	}
	return ""
}

// cpuHas says whether the CPU has the feature flag (as /proc/cpuinfo
// names it, and the report's CPU row lists it), and whether that is
// known.
func cpuHas(sys system, flag string) (has, known bool) {
	if slices.Contains(sys.CPUFlags, flag) {
		return true, true
	}
	return false, sys.CPU != "" && !strings.HasPrefix(sys.CPU, "unknown")
}

// cpuNote says whether the CPU has the feature flag, called name.
func cpuNote(sys system, flag, name string) string {
	switch has, known := cpuHas(sys, flag); {
	case has:
		return fmt.Sprintf("this CPU has %s (%s in /proc/cpuinfo)", name, flag)
	case known:
		return fmt.Sprintf("this CPU lacks %s (no %s in /proc/cpuinfo)", name, flag)
	}
	return "whether this CPU has " + name + " is unknown"
}

// withCPU returns " with name" or " without name" after whether the CPU
// has flag, or "" if that is not known.
func withCPU(sys system, flag, name string) string {
	switch has, known := cpuHas(sys, flag); {
	case has:
		return " with " + name
	case known:
		return " without " + name
	}
	return ""
}

// measureCrypto times each crypto operation once over data in 64 KiB
// pieces and returns GB/s (10^9 bytes of state per second) by operation,
// and the compression ratios under cryptoRatio.
func measureCrypto(data []byte) (map[string]float64, error) {
	var idKey, encKey [32]byte
	rand.Read(idKey[:])
	rand.Read(encKey[:])
	hasher, err := newIDHasher(idKey)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, idKey[:])
	gcm, err := newGCM(encKey)
	if err != nil {
		return nil, err
	}
	xc, err := chacha20poly1305.NewX(encKey[:])
	if err != nil {
		return nil, err
	}
	xnonce := make([]byte, chacha20poly1305.NonceSizeX)
	rand.Read(xnonce)
	var nonce counterNonce
	ad := make([]byte, adSize)
	lz := &lz4Codec{buf: make([]byte, cryptoPiece)}
	// snapshot/codec.go's zstd encoder.
	zenc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return nil, err
	}
	defer zenc.Close()

	// Every destination is touched before it is timed.
	sum := make([]byte, 0, sha256.Size)
	sealed := make([]byte, 0, cryptoPiece+gcm.Overhead())
	sealed = gcm.Seal(sealed, nonce.at(0), data[:min(len(data), cryptoPiece)], ad)
	zbuf := zenc.EncodeAll(data[:min(len(data), cryptoPiece)], make([]byte, 0, cryptoPiece+1024))

	var lz4Bytes, zstdBytes int // stored bytes
	ops := map[string]func(off int, p []byte){
		cryBLAKE3: func(_ int, p []byte) { hasher.sum(p) },
		cryHMAC: func(_ int, p []byte) {
			mac.Reset()
			mac.Write(p)
			sum = mac.Sum(sum[:0])
		},
		cryXXH:     func(_ int, p []byte) { xxhash.Sum64(p) },
		cryGCM:     func(off int, p []byte) { sealed = gcm.Seal(sealed[:0], nonce.at(off), p, ad) },
		cryXChaCha: func(_ int, p []byte) { sealed = xc.Seal(sealed[:0], xnonce, p, ad) },
		cryLZ4: func(_ int, p []byte) {
			out, _ := lz.compress(p)
			lz4Bytes += len(out)
		},
		cryZstd: func(_ int, p []byte) {
			zbuf = zenc.EncodeAll(p, zbuf[:0])
			zstdBytes += min(len(zbuf), len(p)) // raw if it does not shrink, as snapshot/codec.go does
		},
	}
	out := map[string]float64{}
	for _, op := range cryptoOps {
		f := ops[op]
		freeMemory()
		start := time.Now()
		for off := 0; off < len(data); off += cryptoPiece {
			f(off, data[off:min(off+cryptoPiece, len(data))])
		}
		out[op] = float64(len(data)) / time.Since(start).Seconds() / 1e9
	}
	out[cryptoRatio(cryLZ4)] = float64(len(data)) / float64(lz4Bytes)
	out[cryptoRatio(cryZstd)] = float64(len(data)) / float64(zstdBytes)
	return out, nil
}

// renderCrypto writes the crypto table and why the snapshot package uses
// keyed BLAKE3 and AES-256-GCM.
func renderCrypto(b *strings.Builder, sys system, c *opJob) {
	fmt.Fprintf(b, "\n#### Identity hash and AEAD: one goroutine, %d KiB pieces of the %s state\n\n", cryptoPiece>>10, c.data)
	var rows [][]string
	for _, op := range cryptoOps {
		ratio := "—"
		if r := c.stat(cryptoRatio(op)).Med; r > 0 {
			ratio = benchkit.Sig3(r)
		}
		rows = append(rows, []string{op, benchkit.RangeOf(c.stat(op), benchkit.Sig3), ratio, cryptoDescription(op, sys)})
	}
	benchkit.Table(b, []string{"operation", "GB/s", "state ÷ stored", "what"}, rows)
	med := func(op string) float64 { return c.stat(op).Med }
	fmt.Fprintf(b, "\nGB/s: state bytes (10^9) per second. Why keyed BLAKE3 for chunk IDs: like HMAC-SHA-256 it is a keyed 256-bit hash, so IDs neither collide nor reveal content to whoever lacks the key, and here it ran at %s× the speed of HMAC-SHA-256%s; xxhash64 is faster but has 64 bits and no key. "+
		"Why AES-256-GCM: it sealed at %s× the speed of XChaCha20-Poly1305 here%s, and as every object has its own key (HKDF from a random 32-byte salt) and counts its nonces, GCM's 96-bit nonces never repeat under a key, which is what XChaCha20's 192-bit random nonces would buy.\n",
		benchkit.Ratio(med(cryBLAKE3)/med(cryHMAC)), withCPU(sys, "sha_ni", "SHA-NI"), benchkit.Ratio(med(cryGCM)/med(cryXChaCha)), withCPU(sys, "aes", "AES-NI"))
}
