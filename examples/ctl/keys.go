package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/continuity-go/continuity/snapshot"
)

// keyJSON is one key slot: never key material, only what names it.
type keyJSON struct {
	ID       string   `json:"id"`
	Kind     string   `json:"kind"`
	Label    string   `json:"label"`
	Created  jsonTime `json:"created"`
	Current  bool     `json:"current"`  // the slot the key given opened
	Verified bool     `json:"verified"` // its label, kind and time are authenticated (format 2)
}

// keysJSON is ctl keys list --json, and what add, remove and rotate
// print.
type keysJSON struct {
	Keys    []keyJSON `json:"keys"`
	Added   string    `json:"added"`
	Removed string    `json:"removed"`
	NewKey  string    `json:"new_key_file"`
	Epochs  []uint32  `json:"epochs"` // the key epochs held, oldest first; the last is current
}

func cmdKeys(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "keys",
		GroupID: "write",
		Short:   "List, add, remove, rotate or destroy the key slots; rotate the master key",
		Long: `Every key slot wraps the archive's master key with one key: a raw key
file (as a Node writes), or a passphrase. keys list shows the slots, never
key material; add writes a slot for a new key; remove deletes one (never
the last); rotate adds a slot for a new key, then removes the old one.
A new raw key goes to --new-key-file, which must not exist (mode 0600).
destroy deletes every slot, so that nobody can decrypt the archive again.

rotate-master starts a new key epoch (a new master key for what is
written from now on); reencrypt reseals the older objects under it, and
reencrypt --retire then deletes the older epochs' keys.`,
		Args: args(cobra.NoArgs),
		RunE: a.do(func(cmd *cobra.Command, _ []string) error {
			return usage(errors.New("keys: give list, add, remove, rotate, rotate-master, reencrypt or destroy"))
		}),
	}
	cmd.AddCommand(cmdKeysList(a), cmdKeysAdd(a), cmdKeysRemove(a), cmdKeysRotate(a), cmdKeysRotateMaster(a), cmdKeysReencrypt(a), cmdKeysDestroy(a))
	return cmd
}

func (a *app) printKeys(ctx context.Context, s *session, v keysJSON) error {
	ks, err := s.repo.Keys(ctx)
	if err != nil {
		return err
	}
	sortSlots(ks)
	v.Epochs = list(s.repo.Epochs())
	v.Keys = []keyJSON{}
	for _, k := range ks {
		v.Keys = append(v.Keys, keyJSON{k.ID, k.Kind, k.Label, jsonTime(k.Created), k.ID == s.repo.SlotID(), k.Verified})
	}
	return a.printer().print(v, func(out io.Writer) {
		if v.NewKey != "" {
			fmt.Fprintf(out, "new raw key written to %s (mode 0600): keep it as safe as the data\n", v.NewKey)
		}
		if v.Added != "" {
			fmt.Fprintf(out, "added slot %s\n", v.Added)
		}
		if v.Removed != "" {
			fmt.Fprintf(out, "removed slot %s\n", v.Removed)
		}
		fmt.Fprintf(out, "  %-32s  %-10s  %-20s  %s\n", "SLOT", "KIND", "CREATED (UTC)", "LABEL")
		for _, k := range ks {
			mark := " "
			if k.ID == s.repo.SlotID() {
				mark = "*"
			}
			label := k.Label
			if !k.Verified {
				label += " (unverified: an old slot; 'ctl keys rotate' rewrites it)"
			}
			fmt.Fprintf(out, "%s %-32s  %-10s  %-20s  %s\n", mark, k.ID, k.Kind, k.Created.UTC().Format("2006-01-02 15:04:05"), label)
		}
		fmt.Fprintln(out, "(* the slot this key opened)")
		fmt.Fprintf(out, "key epochs held: %s\n", epochsText(v.Epochs))
	})
}

func cmdKeysList(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the key slots (ID, kind, label, created; no key material)",
		Args:  args(cobra.NoArgs),
		RunE: a.withArchive(true, func(cmd *cobra.Command, _ []string, s *session) error {
			return a.printKeys(cmd.Context(), s, keysJSON{})
		}),
	}
}

// newKey is the new key of keys add and rotate.
type newKey struct {
	keyFile, passwordFile string
	label                 string
}

func (n *newKey) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&n.keyFile, "new-key-file", "", "write a new random raw key to this file (must not exist) and add a slot for it")
	f.StringVar(&n.passwordFile, "new-password-file", "", "add a slot for the passphrase in this file's first line")
	f.StringVar(&n.label, "label", "", "the new slot's label (e.g. \"ops team passphrase\")")
	cmd.MarkFlagsMutuallyExclusive("new-key-file", "new-password-file")
	cmd.MarkFlagsOneRequired("new-key-file", "new-password-file")
}

// provider reads or makes the new key. For a raw key it also returns the
// function that writes the key file: call it before the slot is written,
// so that no slot ever exists for a key nobody kept.
func (n *newKey) provider() (snapshot.KeyProvider, func() error, error) {
	if n.passwordFile != "" {
		b, err := os.ReadFile(n.passwordFile)
		if err != nil {
			return nil, nil, fmt.Errorf("read the new passphrase: %w", err)
		}
		p, err := passphrase(firstLine(b), n.passwordFile)
		return p, func() error { return nil }, err
	}
	var k [32]byte
	rand.Read(k[:])
	if _, err := os.Lstat(n.keyFile); err == nil {
		return nil, nil, usage(fmt.Errorf("%s exists: ctl never replaces a key file; name a new one", n.keyFile))
	}
	return snapshot.RawKey(k), func() error { return newKeyFile(n.keyFile, k) }, nil
}

func (n *newKey) labelOr(def string) string {
	if n.label != "" {
		return n.label
	}
	return def
}

func cmdKeysAdd(a *app) *cobra.Command {
	var n newKey
	cmd := &cobra.Command{
		Use:   "add (--new-key-file F | --new-password-file F) [--label L]",
		Short: "Add a key slot for a new key",
		Args:  args(cobra.NoArgs),
		RunE: a.do(func(cmd *cobra.Command, _ []string) error {
			keys, writeKey, err := n.provider()
			if err != nil {
				return err
			}
			s, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer s.close()
			// The key file first: a slot must never exist for a key
			// nobody kept.
			if err := writeKey(); err != nil {
				return err
			}
			k, err := s.repo.AddKey(cmd.Context(), keys, n.labelOr("added by ctl"))
			if err != nil {
				if n.keyFile != "" {
					os.Remove(n.keyFile)
				}
				return err
			}
			a.recordAction(cmd.Context(), s, "keys.add", k.ID, map[string]string{"kind": k.Kind, "label": k.Label})
			return a.printKeys(cmd.Context(), s, keysJSON{Added: k.ID, NewKey: n.keyFile})
		}),
	}
	n.flags(cmd)
	return cmd
}

// findSlot resolves a slot ID or a unique prefix of one.
func findSlot(ctx context.Context, repo *snapshot.Repo, idOrPrefix string) (string, error) {
	ks, err := repo.Keys(ctx)
	if err != nil {
		return "", err
	}
	var found []string
	for _, k := range ks {
		if strings.HasPrefix(k.ID, strings.ToLower(idOrPrefix)) {
			found = append(found, k.ID)
		}
	}
	switch len(found) {
	case 0:
		return "", withCode(exitNotFound, fmt.Errorf("no key slot %q ('ctl keys list' shows them)", idOrPrefix))
	case 1:
		return found[0], nil
	}
	return "", usage(fmt.Errorf("%q names %d slots: give more of the ID", idOrPrefix, len(found)))
}

func cmdKeysRemove(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "remove SLOT",
		Short: "Remove a key slot (never the last one)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: a.withArchive(false, func(cmd *cobra.Command, as []string, s *session) error {
			id, err := findSlot(cmd.Context(), s.repo, as[0])
			if err != nil {
				return err
			}
			if err := s.repo.RemoveKey(cmd.Context(), id); err != nil {
				if errors.Is(err, snapshot.ErrLastKey) {
					return usage(fmt.Errorf("%w: add another key first ('ctl keys add')", err))
				}
				return err
			}
			a.recordAction(cmd.Context(), s, "keys.remove", id, nil)
			return a.printKeys(cmd.Context(), s, keysJSON{Removed: id})
		}),
	}
}

func cmdKeysRotate(a *app) *cobra.Command {
	var n newKey
	cmd := &cobra.Command{
		Use:   "rotate [SLOT] (--new-key-file F | --new-password-file F)",
		Short: "Replace a key slot (default: the one this key opened) with one for a new key; the master key stays",
		Long: `rotate adds a slot for the new key, then removes the old slot (default: the
one the key given opened), so that a crash leaves both, never neither.

It does NOT change the master key that encrypts the data: it replaces
one key that opens the archive. Someone who kept the old slot and its key
can still read everything, including what is written later. To change the
master key, use 'ctl keys rotate-master', then 'ctl keys reencrypt'.`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: a.do(func(cmd *cobra.Command, as []string) error {
			keys, writeKey, err := n.provider()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			s, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			defer s.close()
			old := s.repo.SlotID()
			if len(as) == 1 {
				if old, err = findSlot(ctx, s.repo, as[0]); err != nil {
					return err
				}
			}
			if err := writeKey(); err != nil {
				return err
			}
			k, err := s.repo.RotateKey(ctx, old, keys, n.labelOr("rotated by ctl"))
			if err != nil && k.ID == "" && n.keyFile != "" {
				os.Remove(n.keyFile) // no slot was written for it
			}
			if err != nil {
				return err
			}
			a.recordAction(ctx, s, "keys.rotate", old, map[string]string{"new_slot": k.ID})
			return a.printKeys(ctx, s, keysJSON{Added: k.ID, Removed: old, NewKey: n.keyFile})
		}),
	}
	n.flags(cmd)
	return cmd
}

// destroyJSON is ctl keys destroy --json: what was deleted, and what
// the deletion could not reach.
type destroyJSON struct {
	ID            string   `json:"id"`
	Deleted       []string `json:"deleted"`
	ConfigDeleted bool     `json:"config_deleted"`
	Versioning    string   `json:"versioning"`  // off, enabled, suspended, unknown
	ObjectLock    string   `json:"object_lock"` // off, enabled, unknown
	Warnings      []string `json:"warnings"`
}

func cmdKeysDestroy(a *app) *cobra.Command {
	var confirm string
	var keepConfig bool
	cmd := &cobra.Command{
		Use:   "destroy --confirm ARCHIVE_ID [--keep-config]",
		Short: "Delete every key slot (and the config): nobody can decrypt the archive again",
		Long: `destroy crypto-shreds the archive: it deletes every key slot, damaged ones
too, and then the config (unless --keep-config), so that the master key that
encrypts the snapshots and the WAL cannot be recovered from the bucket by
anyone, with any key. The data objects stay, undecryptable; delete them with
the store's tools to free the space. There is no undo.

--confirm must be the archive's ID, as 'ctl stats' and 'ctl init' print it.

It cannot reach other copies: a bucket that keeps old versions or locks
objects (the output says so for S3; elsewhere "unknown") may still hold
old key slots, which its owner must purge; and key files, passphrases,
Nodes that have the archive open, local WALs, standbys, restored files and
copies of the bucket are out of its reach.`,
		Args: args(cobra.NoArgs),
		RunE: a.do(func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			defer s.close()
			id := s.repo.ID()
			if confirm != id {
				what := "without --confirm"
				if confirm != "" {
					what = fmt.Sprintf("--confirm %s is not this archive's ID", confirm)
				}
				return usage(fmt.Errorf("refusing to destroy the keys %s: nothing deleted. This makes archive %s unreadable forever, with any key; to go on, give --confirm %s", what, id, id))
			}
			rep, err := s.repo.DestroyKeys(ctx, snapshot.DestroyOptions{Confirm: confirm, KeepConfig: keepConfig})
			if err != nil {
				if len(rep.Deleted) > 0 {
					return fmt.Errorf("%w (already deleted: %s)", err, strings.Join(rep.Deleted, ", "))
				}
				return err
			}
			v := destroyJSON{ID: rep.RepoID, Deleted: rep.Deleted, ConfigDeleted: rep.ConfigDeleted,
				Versioning: rep.Versioning, ObjectLock: rep.ObjectLock, Warnings: rep.Warnings}
			if v.Warnings == nil {
				v.Warnings = []string{}
			}
			return a.printer().print(v, func(out io.Writer) {
				slots := len(rep.Deleted)
				if rep.ConfigDeleted {
					slots--
				}
				fmt.Fprintf(out, "destroyed the keys of archive %s: deleted %d key slot object(s)", rep.RepoID, slots)
				if rep.ConfigDeleted {
					fmt.Fprint(out, " and the config")
				}
				fmt.Fprintln(out, "; no key opens it any more")
				fmt.Fprintf(out, "bucket versioning: %s, object lock: %s\n", rep.Versioning, rep.ObjectLock)
				for _, w := range rep.Warnings {
					fmt.Fprintf(out, "warning: %s\n", w)
				}
			})
		}),
	}
	cmd.Flags().StringVar(&confirm, "confirm", "", "the archive's ID ('ctl stats' prints it): required, so that no archive is destroyed by accident")
	cmd.Flags().BoolVar(&keepConfig, "keep-config", false, "keep the config object (the archive ID and chunker parameters); the keys are deleted all the same")
	return cmd
}
