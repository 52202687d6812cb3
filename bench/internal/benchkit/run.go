package benchkit

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
)

// Run is a bench command's main: it parses the command line with parse
// (-h prints the usage and exits 0; a refused command line comes back as
// a *UsageError), then runs execute until it returns or the first
// interrupt cancels its context. execute gets the arguments (quoted in
// the report), the report's writer and the progress writer.
func Run[S any](parse func(args []string) (S, error), execute func(ctx context.Context, s S, args string, out, progress io.Writer) error) error {
	args := os.Args[1:]
	s, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return &UsageError{Err: err}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return execute(ctx, s, strings.Join(args, " "), os.Stdout, os.Stderr)
}

// UsageError is a command line a bench command refuses (an unknown flag,
// a value out of range): it exits with status 2, as the flag package
// does, where a run that failed exits with 1.
type UsageError struct{ Err error }

// Error is the refusal, which names the flag.
func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the refusal.
func (e *UsageError) Unwrap() error { return e.Err }

// ExitCode is the status a bench command exits with after err: 0 for
// nil, 2 for a *UsageError, 1 for anything else.
func ExitCode(err error) int {
	var usage *UsageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &usage):
		return 2
	}
	return 1
}

// Exit ends a bench command's main with ExitCode(err), printing err after
// the command's name to stderr first when there is one.
func Exit(name string, err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
	}
	os.Exit(ExitCode(err))
}
