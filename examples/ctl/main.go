// Command ctl is an operator's tool for a continuity archive (base
// snapshots and the WAL in one bucket): what can be restored and to which
// second, restore to a file, verify and restore drills, retention and
// repair, key slots.
//
//	export CONTINUITY_ARCHIVE=file:///var/lib/app/archive CONTINUITY_KEY_FILE=/var/lib/app/archive.key
//	ctl window                                    # what can be restored
//	ctl snapshots                                 # base snapshots, oldest first
//	ctl restore --time "2026-12-04 21:30:00" --out state.bin
//	ctl verify --read-data                        # exit 3 if anything is wrong
//	ctl drill                                     # restore a random second, time it
//	ctl forget --keep-window 35d --keep-daily 7 --keep-monthly 12 --dry-run
//	ctl prune
//	ctl repair index | repair snapshots
//	ctl keys list | keys add --new-password-file F | keys rotate --new-key-file F
//	ctl keys rotate-master | keys reencrypt | keys reencrypt --retire
//	ctl unlock | stats | init | version | completion bash
//
// ctl --help lists the commands and the environment; ctl COMMAND --help
// a command's flags. README.md documents the exit statuses and the
// --json schema.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &app{in: os.Stdin, out: os.Stdout, errOut: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}
