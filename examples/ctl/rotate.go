package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/snapshot"
)

// maxLeftShown bounds the objects left under an older epoch that the
// human output of reencrypt names (--json names them all).
const maxLeftShown = 10

// epochsText is the key epochs line of keys list, rotate-master and
// reencrypt: "0, 1 (new objects sealed under 1)".
func epochsText(epochs []uint32) string {
	if len(epochs) == 0 {
		return "none"
	}
	s := make([]string, len(epochs))
	for i, e := range epochs {
		s[i] = strconv.FormatUint(uint64(e), 10)
	}
	return fmt.Sprintf("%s (new objects sealed under %d)", strings.Join(s, ", "), epochs[len(epochs)-1])
}

// rotateMasterJSON is ctl keys rotate-master --json.
type rotateMasterJSON struct {
	Epoch   uint32    `json:"epoch"`   // the new current epoch
	Epochs  []uint32  `json:"epochs"`  // the epochs held, oldest first; the last is current
	Slots   []keyJSON `json:"slots"`   // the new slots, wrapping the new key set
	Removed []string  `json:"removed"` // the IDs of the slots replaced or dropped
	Next    []string  `json:"next"`    // the commands to run next, in order
	// RetireAfter is when 'ctl keys reencrypt --retire' may retire the
	// older epochs.
	RetireAfter jsonTime `json:"retire_after"`
}

func cmdKeysRotateMaster(a *app) *cobra.Command {
	var dropOthers bool
	cmd := &cobra.Command{
		Use:   "rotate-master [--drop-others]",
		Short: "Start a new key epoch: a new master key for everything written from now on",
		Long: `rotate-master makes a new random master key (a new key epoch) under which
every object written from now on is sealed: at once by ctl, within a
minute by every Node and other process writing to the archive. The older
epochs' keys are kept, sealed under the new one, so that what they sealed
still reads. Every key slot is replaced by one wrapping the new keys; the
slot of the key given is re-wrapped with that key, which keeps opening
the archive.

ctl holds only the key given, so it cannot re-wrap the other slots: with
other slots, rotate-master refuses (exit 2) unless --drop-others, which
deletes them (their keys stop opening the archive); re-add their owners
with 'ctl keys add' after.

Then run 'ctl keys reencrypt' to reseal the older objects under the new
epoch, and 'ctl keys reencrypt --retire' (2 minutes or more after the
rotation) to delete the older epochs' keys.`,
		Args: args(cobra.NoArgs),
		RunE: a.withArchive(false, func(cmd *cobra.Command, _ []string, s *session) error {
			ctx := cmd.Context()
			if !dropOthers {
				// RotateMaster refuses too (ErrSlotsLeft); asking first
				// gives the operator ctl's way out, not the library's.
				others, err := otherSlots(ctx, s.repo)
				if err != nil {
					return err
				}
				if len(others) > 0 {
					return slotsLeft(strings.Join(others, ", "))
				}
			}
			rep, err := s.repo.RotateMaster(ctx, snapshot.RotateOptions{DropOthers: dropOthers})
			if errors.Is(err, snapshot.ErrSlotsLeft) {
				return slotsLeft(err.Error()) // a slot added since we looked
			}
			if err != nil {
				return err
			}
			a.recordAction(ctx, s, "keys.rotate_master", "", map[string]string{"epoch": strconv.FormatUint(uint64(rep.Epoch), 10),
				"removed_slots": strings.Join(rep.Removed, ",")})
			ks := append([]snapshot.KeySlot(nil), rep.Slots...)
			sortSlots(ks)
			v := rotateMasterJSON{Epoch: rep.Epoch, Epochs: list(s.repo.Epochs()), Slots: []keyJSON{}, Removed: list(rep.Removed),
				Next: []string{"ctl keys reencrypt", "ctl keys reencrypt --retire"}, RetireAfter: jsonTime(rep.RetireAfter)}
			for _, k := range ks {
				v.Slots = append(v.Slots, keyJSON{k.ID, k.Kind, k.Label, jsonTime(k.Created), k.ID == s.repo.SlotID(), k.Verified})
			}
			return a.printer().print(v, func(out io.Writer) {
				fmt.Fprintf(out, "master key rotated: new objects are sealed under key epoch %d\n", rep.Epoch)
				fmt.Fprintf(out, "key epochs held: %s\n", epochsText(v.Epochs))
				for _, k := range ks {
					fmt.Fprintf(out, "new slot %s  %-10s  %s\n", k.ID, k.Kind, k.Label)
				}
				if len(rep.Removed) > 0 {
					fmt.Fprintf(out, "removed slots: %s\n", strings.Join(rep.Removed, ", "))
				}
				fmt.Fprintf(out, "next: run 'ctl keys reencrypt' to reseal the older objects under epoch %d, then 'ctl keys reencrypt --retire' (after %s) to retire the older keys\n",
					rep.Epoch, rep.RetireAfter.UTC().Format(time.RFC3339))
			})
		}),
	}
	cmd.Flags().BoolVar(&dropOthers, "drop-others", false, "delete the key slots of other keys (ctl cannot re-wrap them); re-add them with 'ctl keys add' after")
	return cmd
}

// otherSlots names the key slots the key given did not open.
func otherSlots(ctx context.Context, repo *snapshot.Repo) ([]string, error) {
	ks, err := repo.Keys(ctx)
	if err != nil {
		return nil, err
	}
	sortSlots(ks)
	var others []string
	for _, k := range ks {
		if k.ID != repo.SlotID() {
			others = append(others, fmt.Sprintf("%s (%s %q)", k.ID, k.Kind, k.Label))
		}
	}
	return others, nil
}

func slotsLeft(which string) error {
	return usage(fmt.Errorf("refusing to rotate the master key: nothing changed. ctl can re-wrap only the slot of the key given, so these slots would be left wrapping the old key: %s. "+
		"To go on, run 'ctl keys rotate-master --drop-others' (their keys stop opening the archive), then re-add their owners with 'ctl keys add'", which))
}

// sortSlots orders slots as keys list shows them: oldest first.
func sortSlots(ks []snapshot.KeySlot) {
	sort.Slice(ks, func(i, j int) bool {
		if !ks[i].Created.Equal(ks[j].Created) {
			return ks[i].Created.Before(ks[j].Created)
		}
		return ks[i].ID < ks[j].ID
	})
}

// reencryptJSON is ctl keys reencrypt --json.
type reencryptJSON struct {
	Epoch        uint32   `json:"epoch"`         // the current epoch
	Checked      int      `json:"checked"`       // objects looked at
	Resealed     int      `json:"resealed"`      // objects resealed in place
	Repacked     int      `json:"repacked"`      // packs copied into new packs
	WrittenBytes int64    `json:"written_bytes"` // bytes written
	Left         []string `json:"left"`          // objects still sealed under an older epoch
	Retired      []uint32 `json:"retired"`       // epochs whose keys were deleted
	RetireAfter  jsonTime `json:"retire_after"`  // --retire: too early, run again after it; else null
	Epochs       []uint32 `json:"epochs"`        // the epochs held after the pass; the last is current
}

func cmdKeysReencrypt(a *app) *cobra.Command {
	var retire bool
	cmd := &cobra.Command{
		Use:   "reencrypt [--retire]",
		Short: "Reseal every object sealed under an older key epoch; --retire deletes the older keys",
		Long: `reencrypt reseals under the current key epoch every object sealed under an
older one (after 'ctl keys rotate-master'): packs are copied into new
packs, other objects rewritten in place. It holds the archive's lock, and
is resumable: run it again after an interruption.

With --retire, once nothing is left under an older epoch, it deletes the
older epochs' keys: what they sealed (old versions in a versioned bucket,
copies of the bucket) no longer opens with any key. It waits until the
current epoch is 2 minutes old, so that no Node still seals under an
older one: before then it says when to run again and exits 0.

Exit 3 if --retire was given and objects are left under an older epoch
(they still need the older keys, which are kept).`,
		Args: args(cobra.NoArgs),
		RunE: a.withArchive(false, func(cmd *cobra.Command, _ []string, s *session) error {
			rep, err := s.repo.Reencrypt(cmd.Context(), snapshot.ReencryptOptions{SealedPrefix: continuity.SealedPrefixLen, Retire: retire})
			s.meter.finish()
			if err != nil {
				return err
			}
			a.recordAction(cmd.Context(), s, "keys.reencrypt", "", map[string]string{"epoch": strconv.FormatUint(uint64(rep.Epoch), 10),
				"resealed": strconv.Itoa(rep.Resealed), "repacked": strconv.Itoa(rep.Repacked), "retired": fmt.Sprint(rep.Retired)})
			v := reencryptJSON{Epoch: rep.Epoch, Checked: rep.Checked, Resealed: rep.Resealed, Repacked: rep.Repacked,
				WrittenBytes: rep.Bytes, Left: list(rep.Left), Retired: list(rep.Retired), RetireAfter: jsonTime(rep.RetireAfter),
				Epochs: list(s.repo.Epochs())}
			if err := a.printer().print(v, func(out io.Writer) { printReencrypt(out, v, retire) }); err != nil {
				return err
			}
			if retire && len(rep.Left) > 0 {
				return withCode(exitIntegrity, fmt.Errorf("%d object(s) are still sealed under an older key epoch and still need the older keys: nothing retired", len(rep.Left)))
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&retire, "retire", false, "once nothing is left under an older epoch and the current one is 2 minutes old, delete the older epochs' keys")
	return cmd
}

func printReencrypt(out io.Writer, v reencryptJSON, retire bool) {
	fmt.Fprintf(out, "reencrypt under key epoch %d: checked %d objects, resealed %d in place, repacked %d packs, wrote %s\n",
		v.Epoch, v.Checked, v.Resealed, v.Repacked, size(v.WrittenBytes))
	if n := len(v.Left); n > 0 {
		fmt.Fprintf(out, "%d object(s) left under an older epoch (of a layout ctl does not know, or an unindexed pack that does not read):\n", n)
		for _, name := range v.Left[:min(n, maxLeftShown)] {
			fmt.Fprintf(out, "  %s\n", name)
		}
		if n > maxLeftShown {
			fmt.Fprintf(out, "  ... and %d more (--json lists them all)\n", n-maxLeftShown)
		}
	} else {
		fmt.Fprintf(out, "every object is sealed under epoch %d\n", v.Epoch)
	}
	fmt.Fprintf(out, "key epochs held: %s\n", epochsText(v.Epochs))
	switch {
	case len(v.Retired) > 0:
		s := make([]string, len(v.Retired))
		for i, e := range v.Retired {
			s[i] = strconv.FormatUint(uint64(e), 10)
		}
		fmt.Fprintf(out, "retired key epochs %s: their keys are deleted, and what they sealed no longer opens\n", strings.Join(s, ", "))
	case !time.Time(v.RetireAfter).IsZero():
		fmt.Fprintf(out, "the current epoch is too young to retire the older ones: run again after %s\n", utc(time.Time(v.RetireAfter)))
		fmt.Fprintln(out, "(the pass is complete; the older keys are kept until then)")
	case retire && len(v.Left) > 0:
		fmt.Fprintln(out, "the older epochs' keys were not retired: the objects above still need them")
	case len(v.Epochs) > 1 && len(v.Left) == 0:
		fmt.Fprintln(out, "the older epochs' keys are still held: 'ctl keys reencrypt --retire' deletes them")
	case retire:
		fmt.Fprintln(out, "no older epoch is held: nothing to retire")
	}
}
