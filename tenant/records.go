package tenant

import (
	"crypto/hmac"
	"fmt"
	"time"

	"github.com/continuity-go/continuity/internal/binenc"
)

// Key and forget records: the payloads of KindKey and KindForget
// records, integers little-endian, lengths uint32.
//
// KindKey (KeyRecord):
//
//	off  size  field
//	  0     1  version (1)
//	  1    16  tenant tag
//	 17     8  key ID
//	 25     8  created, Unix ns
//	 33   4+n  keeper name ("" when the repository key wraps the key)
//	  .   4+m  tenant ID, AES-256-GCM under HKDF(data key, "continuity/
//	           tenant/v1/id"), nonce 0, every byte before it as
//	           additional data
//
// KindForget (ForgetRecord):
//
//	off  size  field
//	  0     1  version (1)
//	  1    16  tenant tag
//	 17     8  key ID
//	 25     8  time, Unix ns
//	 33   4+n  reason, in the clear (the audit trail keeps it)
//	  .    32  HMAC-SHA-256 of every byte before it under HKDF(data key,
//	           "continuity/tenant/v1/mac/forget")
//
// Both prove their writer held the tenant's key: a key record's ID opens
// only under it, a forget record's MAC checks only with it. So nobody
// without the key can plant a tenant or forget one.
const (
	recordVersion  = 1
	maxKeeperBytes = 255
	// MaxReasonBytes bounds a forget record's reason.
	MaxReasonBytes = 1024
	maxSealedID    = MaxIDBytes + tagSize
)

// KeyRecord says a tenant's key exists.
type KeyRecord struct {
	Tag     Tag
	Key     KeyID
	Created time.Time
	Keeper  string // the keeper that wraps the key; "" for the repository key
	ID      string // the tenant ID (sealed in the record)
}

// Encode seals r.ID under k (whose tag and ID r names) and returns the
// payload.
func (r KeyRecord) Encode(k *Key) ([]byte, error) {
	if k.Tag != r.Tag || k.ID != r.Key {
		return nil, fmt.Errorf("tenant: key record for %s/%s under key %s/%s", r.Tag, r.Key, k.Tag, k.ID)
	}
	if len(r.Keeper) > maxKeeperBytes {
		return nil, fmt.Errorf("tenant: keeper name of %d bytes, more than %d", len(r.Keeper), maxKeeperBytes)
	}
	if err := CheckID(r.ID); err != nil {
		return nil, err
	}
	e := binenc.Encoder{}
	e.U8(recordVersion)
	e.Raw(r.Tag[:])
	e.Raw(r.Key[:])
	e.U64(uint64(r.Created.UnixNano()))
	e.Str(r.Keeper)
	aead, err := k.gcm([]byte("continuity/tenant/v1/id"))
	if err != nil {
		return nil, err
	}
	var nonce [12]byte
	sealed := aead.Seal(nil, nonce[:], []byte(r.ID), e.B)
	e.Bytes(sealed)
	return e.B, nil
}

// KeyRecordHeader is a key record read without its key: the tenant ID is
// still sealed.
type KeyRecordHeader struct {
	Tag     Tag
	Key     KeyID
	Created time.Time
	Keeper  string
	sealed  []byte
	ad      []byte
}

// ParseKeyRecord reads a key record's clear fields.
func ParseKeyRecord(b []byte) (KeyRecordHeader, error) {
	var h KeyRecordHeader
	d := binenc.Decoder{B: b}
	if v := d.U8(); d.Err == nil && v != recordVersion {
		return h, fmt.Errorf("%w: key record format %d, this build reads %d", ErrDamaged, v, recordVersion)
	}
	copy(h.Tag[:], d.Take(len(h.Tag)))
	copy(h.Key[:], d.Take(len(h.Key)))
	h.Created = time.Unix(0, int64(d.U64()))
	h.Keeper = d.Str(maxKeeperBytes)
	adEnd := d.Off
	h.sealed = d.Bytes(maxSealedID)
	if err := d.Done(); err != nil {
		return h, fmt.Errorf("%w: key record: %v", ErrDamaged, err)
	}
	h.ad = b[:adEnd]
	return h, nil
}

// Open authenticates the record under k and returns it whole.
func (h KeyRecordHeader) Open(k *Key) (KeyRecord, error) {
	r := KeyRecord{Tag: h.Tag, Key: h.Key, Created: h.Created, Keeper: h.Keeper}
	if k.Tag != h.Tag || k.ID != h.Key {
		return r, fmt.Errorf("tenant: key record for %s/%s opened with key %s/%s", h.Tag, h.Key, k.Tag, k.ID)
	}
	aead, err := k.gcm([]byte("continuity/tenant/v1/id"))
	if err != nil {
		return r, err
	}
	var nonce [12]byte
	id, err := aead.Open(nil, nonce[:], h.sealed, h.ad)
	if err != nil {
		return r, fmt.Errorf("%w: the key record of tenant %s does not open under key %s", ErrDamaged, h.Tag, h.Key)
	}
	if err := CheckID(string(id)); err != nil {
		return r, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	r.ID = string(id)
	return r, nil
}

// ForgetRecord destroys a tenant's key.
type ForgetRecord struct {
	Tag    Tag
	Key    KeyID
	Time   time.Time
	Reason string
}

// Encode MACs the record under k and returns the payload.
func (r ForgetRecord) Encode(k *Key) ([]byte, error) {
	if k.Tag != r.Tag || k.ID != r.Key {
		return nil, fmt.Errorf("tenant: forget record for %s/%s under key %s/%s", r.Tag, r.Key, k.Tag, k.ID)
	}
	if len(r.Reason) > MaxReasonBytes {
		return nil, fmt.Errorf("tenant: a reason of %d bytes, more than %d", len(r.Reason), MaxReasonBytes)
	}
	e := binenc.Encoder{}
	e.U8(recordVersion)
	e.Raw(r.Tag[:])
	e.Raw(r.Key[:])
	e.U64(uint64(r.Time.UnixNano()))
	e.Str(r.Reason)
	mac, err := k.mac("forget", e.B)
	if err != nil {
		return nil, err
	}
	e.Raw(mac)
	return e.B, nil
}

// ForgetRecordHeader is a forget record whose MAC is not checked yet.
type ForgetRecordHeader struct {
	ForgetRecord
	body, mac []byte
}

// ParseForgetRecord reads a forget record's fields.
func ParseForgetRecord(b []byte) (ForgetRecordHeader, error) {
	var h ForgetRecordHeader
	d := binenc.Decoder{B: b}
	if v := d.U8(); d.Err == nil && v != recordVersion {
		return h, fmt.Errorf("%w: forget record format %d, this build reads %d", ErrDamaged, v, recordVersion)
	}
	copy(h.Tag[:], d.Take(len(h.Tag)))
	copy(h.Key[:], d.Take(len(h.Key)))
	h.Time = time.Unix(0, int64(d.U64()))
	h.Reason = d.Str(MaxReasonBytes)
	end := d.Off
	h.mac = d.Take(32)
	if err := d.Done(); err != nil {
		return h, fmt.Errorf("%w: forget record: %v", ErrDamaged, err)
	}
	h.body = b[:end]
	return h, nil
}

// Check authenticates the record under k.
func (h ForgetRecordHeader) Check(k *Key) error {
	if k.Tag != h.Tag || k.ID != h.Key {
		return fmt.Errorf("tenant: forget record for %s/%s checked with key %s/%s", h.Tag, h.Key, k.Tag, k.ID)
	}
	mac, err := k.mac("forget", h.body)
	if err != nil {
		return err
	}
	if !hmac.Equal(mac, h.mac) {
		return fmt.Errorf("%w: the forget record of tenant %s does not check under key %s", ErrDamaged, h.Tag, h.Key)
	}
	return nil
}

// GenerationRecord is the payload of a KindGeneration record: the
// record's own epoch and LSN are the generation.
func GenerationRecord() []byte { return []byte{recordVersion} }
