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
