package benchkit

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/signal"
	"strings"
)

// Run is a bench command's main: it parses the command line with parse
// (-h prints the usage and exits 0), then runs execute until it returns
// or the first interrupt cancels its context. execute gets the arguments
// (quoted in the report), the report's writer and the progress writer.
func Run[S any](parse func(args []string) (S, error), execute func(ctx context.Context, s S, args string, out, progress io.Writer) error) error {
	args := os.Args[1:]
	s, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return execute(ctx, s, strings.Join(args, " "), os.Stdout, os.Stderr)
}
