package main

import (
	"fmt"
	"testing"

	"github.com/continuity-go/continuity/archive"
)

// TestNothingToRestoreBecauseDamaged: an archive with nothing to restore
// is "not found" (4), unless what made it so is damage (3).
func TestNothingToRestoreBecauseDamaged(t *testing.T) {
	if code, _ := classify(archive.ErrNothingToRestore); code != exitNotFound {
		t.Errorf("nothing to restore: exit %d, want %d", code, exitNotFound)
	}
	damagedFirst := fmt.Errorf("%w: %w", archive.ErrNothingToRestore, &archive.ObjectError{Object: "wal/x", LSN: 1, Err: archive.ErrCorrupt})
	if code, _ := classify(damagedFirst); code != exitIntegrity {
		t.Errorf("nothing to restore, the first object damaged: exit %d, want %d", code, exitIntegrity)
	}
}
