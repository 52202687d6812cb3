package snapshot

import (
	"bufio"
	"context"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"gocloud.dev/blob"
)

// Sealed objects in pieces (format version 3).
//
// Objects sealed by sealObject and PutSealed (config, index, manifests,
// locks, epochs, the archive's objects) have their body sealed in pieces
// of pieceSize plaintext bytes, each with its own tag, so that a reader
// authenticates every piece before it reads the next: an object planted
// in the bucket, whatever size it claims, costs a reader one piece of
// memory before it fails. Layout:
//
//	| header (48, version 3: carries the key epoch) | prefix (clear) |
//	| piece 0: AES-256-GCM(≤ pieceSize bytes) | tag (16) | piece 1 … |
//
// Every piece but the last holds exactly pieceSize bytes; the last holds
// 0 to pieceSize. Piece i's nonce is i (uint64, little-endian, bytes
// 0-7), with byte 11 set to 1 on the last piece, so pieces cannot be
// reordered, dropped from the end, or followed by more. Every piece's
// additional data is the header, the prefix and the repository ID (and,
// for PutSealed objects, the object's name).
//
// Objects of versions 1 and 2 (older builds) hold their body in one
// piece, nonce 0; they are read whole, up to singleShotMax bytes.
const (
	piecesVersion uint16 = 3
	pieceSize            = 1 << 20
	// singleShotMax bounds a version 1 or 2 object read whole before it
	// authenticates. Larger ones (an index of millions of chunks) are
	// read only through RepairIndex, which rewrites them.
	singleShotMax = 64 << 20
)

// piecesOverhead is what sealing in pieces adds to a body of n bytes.
func piecesOverhead(n int64) int64 { return max(1, (n+pieceSize-1)/pieceSize) * tagSize }

func pieceNonce(buf *[nonceSize]byte, i uint64, last bool) []byte {
	binary.LittleEndian.PutUint64(buf[:8], i)
	buf[8], buf[9], buf[10], buf[11] = 0, 0, 0, 0
	if last {
		buf[11] = 1
	}
	return buf[:]
}

// sealPieces seals body under k's current epoch for kind; a non-empty
// name is bound into every piece's additional data (PutSealed).
func (k *keyring) sealPieces(kind byte, prefix, body []byte, name string) ([]byte, error) {
	h := header{version: piecesVersion, kind: kind, epoch: k.current, salt: newSalt()}
	out := h.append(make([]byte, 0, headerSize+len(prefix)+len(body)+int(piecesOverhead(int64(len(body))))))
	out = append(out, prefix...)
	aead, err := k.objectAEAD(h.epoch, kind, h.salt[:])
	if err != nil {
		return nil, err
	}
	ad := k.objectAD(out)
	if name != "" {
		ad = sealedAD(ad, name)
	}
	var nb [nonceSize]byte
	for i := uint64(0); ; i++ {
		n := min(len(body), pieceSize)
		last := len(body) == n
		out = aead.Seal(out, pieceNonce(&nb, i, last), body[:n], ad)
		body = body[n:]
		if last {
			return out, nil
		}
	}
}

// getSealed reads the sealed object name of kind from the bucket and
// authenticates it piece by piece (see above): its prefix of prefixLen
// bytes and a body of at most maxBody bytes. nameAD binds the name (a
// PutSealed object). A missing object gives an *ObjectError with
// ErrMissing.
func (k *keyring) getSealed(ctx context.Context, bucket *blob.Bucket, name string, kind byte, prefixLen int, maxBody int64, nameAD bool) (h header, prefix, body []byte, err error) {
	rd, err := bucket.NewReader(ctx, name, nil)
	if err != nil {
		return h, nil, nil, storageErr(name, err)
	}
	defer rd.Close()
	h, prefix, body, err = k.openFrom(rd, rd.Size(), name, kind, prefixLen, maxBody, nameAD)
	if err != nil {
		var oe *ObjectError
		if !errors.As(err, &oe) {
			err = storageErr(name, err)
		}
		return h, nil, nil, err
	}
	return h, prefix, body, nil
}

// openFrom authenticates and decrypts a sealed object of size bytes read
// from r: in pieces for version 3, whole (at most singleShotMax) before.
// A body larger than maxBody is refused before it is read.
func (k *keyring) openFrom(r io.Reader, size int64, name string, kind byte, prefixLen int, maxBody int64, nameAD bool) (h header, prefix, body []byte, err error) {
	split := headerSize + prefixLen
	if size < int64(split)+tagSize {
		return h, nil, nil, objErr(name, -1, fmt.Errorf("%w: %d bytes", ErrTruncated, size))
	}
	// Buffers no larger than the object: a key slot or a head is a few
	// hundred bytes, and is read often.
	br := bufio.NewReaderSize(r, int(min(64<<10, size)))
	hp := make([]byte, split)
	if _, err := io.ReadFull(br, hp); err != nil {
		return h, nil, nil, readErr(name, err)
	}
	h, err = parseHeader(name, hp, kind)
	if err != nil {
		return h, nil, nil, err
	}
	aead, err := k.objectAEAD(h.epoch, kind, h.salt[:])
	if err != nil {
		return h, nil, nil, objErr(name, 11, err)
	}
	ad := k.objectAD(hp)
	if nameAD {
		ad = sealedAD(ad, name)
	}
	bodyBytes := size - int64(split)
	if h.version < piecesVersion {
		if bodyBytes > min(maxBody+tagSize, singleShotMax) {
			return h, nil, nil, corrupt(name, -1, fmt.Sprintf("a single-piece object of %d bytes, more than the %d read whole before authenticating (rebuild the index with RepairIndex, or reseal with Reencrypt)", size, min(maxBody+tagSize, singleShotMax)))
		}
		sealed := make([]byte, bodyBytes)
		if _, err := io.ReadFull(br, sealed); err != nil {
			return h, nil, nil, readErr(name, err)
		}
		var nb [nonceSize]byte
		body, err := aead.Open(sealed[:0], nonce(&nb, 0), sealed, ad)
		if err != nil {
			return h, nil, nil, corrupt(name, int64(split), "authentication failed")
		}
		return h, hp[headerSize:], body, nil
	}
	if bodyBytes > maxBody+piecesOverhead(maxBody) {
		return h, nil, nil, corrupt(name, -1, fmt.Sprintf("%d bytes, more than the %d expected", size, int64(split)+maxBody+piecesOverhead(maxBody)))
	}
	body, err = openPieces(br, aead, ad, name, int64(split), maxBody, bodyBytes)
	if err != nil {
		return h, nil, nil, err
	}
	return h, hp[headerSize:], body, nil
}

// openPieces reads and opens pieces from br until the last one; the
// sealed body is bodyBytes long. Each piece is read into the body's free
// tail and opened in place. The body grows (as append grows a slice) to
// hold what authenticated and one piece more, never more on the stored
// size's word: a planted object, or a real one with bytes appended, costs
// about a piece beyond what authenticated.
func openPieces(br *bufio.Reader, aead cipher.AEAD, ad []byte, name string, off, maxBody, bodyBytes int64) ([]byte, error) {
	var body []byte
	var nb [nonceSize]byte
	for i := uint64(0); ; i++ {
		body = slices.Grow(body, int(min(pieceSize+tagSize, max(bodyBytes-int64(len(body)), tagSize))))
		window := body[len(body):min(cap(body), len(body)+pieceSize+tagSize)]
		n, err := io.ReadFull(br, window)
		last := false
		switch {
		case err == io.ErrUnexpectedEOF || err == io.EOF:
			last = true
		case err != nil:
			return nil, readErr(name, err)
		default:
			_, perr := br.Peek(1)
			last = perr == io.EOF
			if perr != nil && perr != io.EOF {
				return nil, readErr(name, perr)
			}
		}
		if n < tagSize {
			return nil, objErr(name, off, fmt.Errorf("%w: piece %d has %d bytes", ErrTruncated, i, n))
		}
		if int64(len(body)+n-tagSize) > maxBody {
			return nil, corrupt(name, off, fmt.Sprintf("body longer than %d bytes", maxBody))
		}
		plain, err := aead.Open(window[:0], pieceNonce(&nb, i, last), window[:n], ad)
		if err != nil {
			return nil, corrupt(name, off, fmt.Sprintf("piece %d: authentication failed", i))
		}
		body = body[:len(body)+len(plain)]
		off += int64(n)
		if last {
			return body, nil
		}
	}
}

// readErr classifies an error reading an object's bytes.
func readErr(name string, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return objErr(name, -1, ErrTruncated)
	}
	return storageErr(name, err)
}
