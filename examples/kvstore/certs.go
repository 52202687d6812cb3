package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/continuity-go/continuity/peer"
)

// certsCmd makes a cluster CA and a certificate per node, whose URI SAN
// continuity://<cluster>/<node> is the node's identity: ca.pem, and
// <node>.pem and <node>-key.pem for each node, and "nodes", the
// allowlist; and archive.key, the 32-byte key of the cluster's archive
// (kept if it exists: a new key would not open the archive). The CA's
// key is not kept: to add a node later, make the set again.
//
// Every file is 0600 and a new directory 0700: the keys are secrets, and
// the rest is nobody else's business either. Rewriting a file keeps the
// mode it had, so writeFile sets it again; a directory that exists keeps
// its own, with a warning if it is open to others.
func certsCmd(args []string) error {
	fs := flag.NewFlagSet("certs", flag.ExitOnError)
	out := fs.String("out", "", "directory to write into (required)")
	cluster := fs.String("cluster", "kvstore", "cluster ID")
	nodes := fs.String("nodes", "n1,n2,n3", "comma-separated node IDs")
	valid := fs.Duration("valid", 365*24*time.Hour, "validity")
	fs.Parse(args)
	if *out == "" {
		return errors.New("-out is required")
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	if fi, err := os.Stat(*out); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(os.Stderr, "kvstore certs: warning: %s is mode %04o, open to its group or others: chmod 0700 %s\n", *out, uint32(fi.Mode().Perm()), *out)
	}
	ca, err := peer.NewCA(*cluster+" CA", *valid)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(*out, "ca.pem"), peer.PEM("CERTIFICATE", ca.DER)); err != nil {
		return err
	}
	ids := strings.Split(*nodes, ",")
	for _, id := range ids {
		cert, key, err := ca.Node(*cluster, id, *valid)
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(*out, id+".pem"), peer.PEM("CERTIFICATE", cert.Certificate[0])); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(*out, id+"-key.pem"), peer.PEM("PRIVATE KEY", key)); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(*out, "nodes"), []byte(strings.Join(ids, "\n")+"\n")); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(*out, "archive.key"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	} else if err != nil {
		return err
	}
	var key [32]byte
	rand.Read(key[:])
	if _, err := f.Write(key[:]); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeFile writes data to path, mode 0600 whether it is new or not: a
// file of an earlier run may have been made with a looser mode, and the
// chmod comes before the new bytes.
func writeFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
