package main

import (
	"crypto/rand"
	"errors"
	"flag"
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
	ca, err := peer.NewCA(*cluster+" CA", *valid)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "ca.pem"), peer.PEM("CERTIFICATE", ca.DER), 0o644); err != nil {
		return err
	}
	ids := strings.Split(*nodes, ",")
	for _, id := range ids {
		cert, key, err := ca.Node(*cluster, id, *valid)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*out, id+".pem"), peer.PEM("CERTIFICATE", cert.Certificate[0]), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*out, id+"-key.pem"), peer.PEM("PRIVATE KEY", key), 0o600); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(*out, "nodes"), []byte(strings.Join(ids, "\n")+"\n"), 0o644); err != nil {
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
