package binenc

import (
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var e Encoder
	e.U8(1)
	e.U16(2)
	e.U32(3)
	e.U64(4)
	e.Raw([]byte("ab"))
	e.Bytes([]byte("cd"))
	e.Str("ef")
	d := Decoder{B: e.B}
	if d.U8() != 1 || d.U16() != 2 || d.U32() != 3 || d.U64() != 4 || string(d.Take(2)) != "ab" ||
		string(d.Bytes(10)) != "cd" || d.Str(10) != "ef" {
		t.Fatal("fields differ")
	}
	if err := d.Done(); err != nil {
		t.Fatal(err)
	}
}

func TestBounds(t *testing.T) {
	var e Encoder
	e.U32(1 << 30) // a count or length far beyond the input
	for name, read := range map[string]func(*Decoder){
		"count": func(d *Decoder) { d.Count(8, 1<<31) },
		"limit": func(d *Decoder) { d.Count(0, 10) },
		"bytes": func(d *Decoder) { d.Bytes(1 << 31) },
		"take":  func(d *Decoder) { d.U32(); d.Take(1) },
	} {
		d := Decoder{B: e.B}
		read(&d)
		if d.Err == nil {
			t.Errorf("%s: accepted", name)
		}
		if d.U64() != 0 || d.Take(1) != nil {
			t.Errorf("%s: reads after an error return values", name)
		}
	}
	d := Decoder{B: []byte{1, 2}}
	d.U8()
	if err := d.Done(); err == nil {
		t.Error("trailing byte accepted")
	}
	d = Decoder{B: []byte{1}}
	d.U16()
	if !errors.Is(d.Err, ErrShort) {
		t.Errorf("short input: %v", d.Err)
	}
}

func TestMinimalUvarint(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 300, 1<<32 - 1, 1<<64 - 1} {
		var e Encoder
		e.Uvarint(v)
		if len(e.B) != UvarintLen(v) {
			t.Errorf("%d: %d bytes, UvarintLen says %d", v, len(e.B), UvarintLen(v))
		}
		d := Decoder{B: e.B}
		if got := d.MinimalUvarint(); got != v || d.Done() != nil {
			t.Errorf("%d: read %d, %v", v, got, d.Err)
		}
	}
	for name, b := range map[string][]byte{
		"1 in two bytes": {0x81, 0x00},
		"300 in three":   {0xac, 0x82, 0x00},
		"over 64 bits":   {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
		"cut short":      {0x80},
		"empty":          {},
	} {
		d := Decoder{B: b}
		if v := d.MinimalUvarint(); d.Err == nil {
			t.Errorf("%s: read %d", name, v)
		}
	}
}
