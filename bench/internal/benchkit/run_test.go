package benchkit

import (
	"context"
	"errors"
	"flag"
	"io"
	"testing"
)

// TestExitCodes: a refused command line exits 2 and never runs; -h exits
// 0; a failed run exits 1.
func TestExitCodes(t *testing.T) {
	never := func(context.Context, int, string, io.Writer, io.Writer) error {
		t.Fatal("execute ran after its command line was refused")
		return nil
	}
	refused := errors.New("-runs 0: need at least 1")
	err := Run(func([]string) (int, error) { return 0, refused }, never)
	if !errors.Is(err, refused) || ExitCode(err) != 2 {
		t.Errorf("refused command line: Run = %v, exit %d; want the refusal, exit 2", err, ExitCode(err))
	}
	if err := Run(func([]string) (int, error) { return 0, flag.ErrHelp }, never); err != nil || ExitCode(err) != 0 {
		t.Errorf("-h: Run = %v, exit %d; want nil, exit 0", err, ExitCode(err))
	}
	failed := errors.New("open node: disk full")
	err = Run(func([]string) (int, error) { return 1, nil }, func(context.Context, int, string, io.Writer, io.Writer) error { return failed })
	if !errors.Is(err, failed) || ExitCode(err) != 1 {
		t.Errorf("failed run: Run = %v, exit %d; want the failure, exit 1", err, ExitCode(err))
	}
}
