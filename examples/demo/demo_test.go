package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestDemo runs the demo with fewer events and checks what it claims.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, 300, false); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"nothing lost", "identical to the ledger then", "acknowledged events lost           0", "epoch 1 → after"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
