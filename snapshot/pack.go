package snapshot

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

// A pack object is
//
//	header (48 bytes: magic, version, kind=pack, key epoch, salt)
//	blob 0 … blob n-1   each AES-256-GCM sealed under the pack's key with
//	                    its offset in the pack as nonce and additional
//	                    data repoID|type|blobID
//	trailer             the pack's blob entries, sealed with nonce 0 and
//	                    the header and repoID as additional data
//	trailer length      uint32, little-endian, in the clear
//
// The index objects say where each blob is, so a restore reads only the
// ranges it needs; the trailer makes every pack self-describing, so Verify
// can check the index against it and an index can be rebuilt from packs.

// packWriter fills one pack in memory. Not safe for concurrent use: each
// Save worker owns one.
type packWriter struct {
	info    packInfo
	aead    cipher.AEAD
	buf     []byte
	blobs   []blobEntry
	adBuf   [repoIDSize + 1 + blobIDSize]byte
	nonce   [nonceSize]byte
	rawSize int64
}

// newPackWriter starts a pack in buf (reused if it is large enough; nil
// allocates capacity bytes).
func (k *keyring) newPackWriter(buf []byte, capacity int) (*packWriter, error) {
	if cap(buf) < capacity {
		buf = make([]byte, 0, capacity)
	}
	p := &packWriter{}
	rand.Read(p.info.id[:])
	p.info.salt = newSalt()
	p.info.epoch = k.current
	aead, err := k.objectAEAD(p.info.epoch, kindPack, p.info.salt[:])
	if err != nil {
		return nil, err
	}
	p.aead = aead
	p.buf = sealedHeader(kindPack, p.info.epoch, p.info.salt).append(buf[:0])
	return p, nil
}

// add appends payload (raw or compressed, per codec) as blob id, with
// room for its tag; finish seals it. A Save worker hands its full pack to
// an uploader, which finishes it: the worker's compression does not wait
// on the seal.
func (p *packWriter) add(typ, codec byte, id blobID, payload []byte, raw int) {
	off := len(p.buf)
	p.buf = append(p.buf, payload...)
	p.buf = append(p.buf, make([]byte, tagSize)...)
	p.blobs = append(p.blobs, blobEntry{
		typ: typ, codec: codec, id: id,
		off: uint32(off), length: uint32(len(p.buf) - off), raw: uint32(raw),
	})
	p.rawSize += int64(raw)
}

// maxPackBlobs bounds the blobs of one pack well under what index
// decoding accepts (maxIndexBlobs), whatever PackBytes and chunk sizes.
const maxPackBlobs = 1 << 20

// full reports whether the pack should be closed.
func (p *packWriter) full(packBytes int) bool {
	return len(p.buf) >= packBytes || len(p.blobs) >= maxPackBlobs
}

// finish seals the blobs in place (each has its tag's room after it, so
// Seal writes over its payload and no further), appends the trailer and
// returns the pack's bytes and index entry. Call it once.
func (p *packWriter) finish(k *keyring) ([]byte, indexPack) {
	for _, b := range p.blobs {
		payload := p.buf[b.off : b.off+b.length-tagSize]
		p.aead.Seal(payload[:0], nonce(&p.nonce, uint64(b.off)), payload, k.blobAD(&p.adBuf, b.typ, b.id))
	}
	var e encoder
	e.U32(uint32(len(p.blobs)))
	for _, b := range p.blobs {
		putBlob(&e, b)
	}
	p.buf = p.aead.Seal(p.buf, nonce(&p.nonce, 0), e.B, k.objectAD(p.buf[:headerSize]))
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(len(e.B)+tagSize))
	p.info.size = int64(len(p.buf))
	return p.buf, indexPack{packInfo: p.info, blobs: p.blobs}
}

// packReader opens blobs of one pack.
type packReader struct {
	id   [objNameBytes]byte
	name string
	aead cipher.AEAD
}

func (k *keyring) newPackReader(info packInfo) (*packReader, error) {
	aead, err := k.objectAEAD(info.epoch, kindPack, info.salt[:])
	if err != nil {
		return nil, objErr(info.name(), 11, err)
	}
	return &packReader{id: info.id, name: info.name(), aead: aead}, nil
}

// open authenticates and decrypts blob b, whose sealed bytes are sealed,
// appending the payload to dst. The nonce is the blob's offset (offsets
// are distinct within a pack, so nonces never repeat under its key), so a
// blob moved within or across packs fails authentication.
func (pr *packReader) open(k *keyring, dst []byte, b blobEntry, sealed []byte) ([]byte, error) {
	var nb [nonceSize]byte
	var ad [repoIDSize + 1 + blobIDSize]byte
	out, err := pr.aead.Open(dst, nonce(&nb, uint64(b.off)), sealed, k.blobAD(&ad, b.typ, b.id))
	if err != nil {
		return nil, corrupt(pr.name, int64(b.off), fmt.Sprintf("blob %s: authentication failed", b.id))
	}
	return out, nil
}
