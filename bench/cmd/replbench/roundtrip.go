package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/continuity-go/continuity/internal/wire"
	"github.com/continuity-go/continuity/wal"
)

// roundTrip is the replication transport without the logs: a primary's
// end and a standby's end connected over loopback with TLS 1.3 and mutual
// authentication, through wire.Listen and wire.Dial. once
// sends one record in a Records frame, as Primary streams it, and waits
// for the Ack frame the standby's end answers with at once.
type roundTrip struct {
	l       *wire.Listener
	primary *wire.Conn
	standby *wire.Conn
	frame   []byte     // the Records payload
	done    chan error // the standby's end's error, once it stops
}

func openRoundTrip(ctx context.Context, pk *pki, payload []byte) (rt *roundTrip, err error) {
	l, err := wire.Listen("127.0.0.1:0", wire.Options{TLS: pk.transport(primaryNode, standbyNode(0)).TLS})
	if err != nil {
		return nil, err
	}
	rt = &roundTrip{l: l, done: make(chan error, 1)}
	defer func() {
		if err != nil {
			rt.Close()
		}
	}()
	type accepted struct {
		c   *wire.Conn
		err error
	}
	acc := make(chan accepted, 1)
	go func() {
		c, _, err := l.Accept(ctx)
		if err == nil {
			err = c.Welcome(wire.Welcome{Version: wire.ProtocolVersion, Cluster: clusterID, Node: primaryNode, Epoch: 1})
		}
		acc <- accepted{c, err}
	}()
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rt.standby, _, err = wire.Dial(hctx, l.Addr().String(), wire.Options{TLS: pk.transport(standbyNode(0), primaryNode).TLS}, wire.Hello{Node: standbyNode(0), Epoch: 1})
	a := <-acc
	rt.primary = a.c
	if err = errors.Join(err, a.err); err != nil {
		return rt, err
	}
	rt.frame = wire.AppendBatch(nil, wire.Batch{Flags: wire.FlagSync, Records: []wal.Record{{LSN: 1, Epoch: 1, Time: time.Now(), Data: payload}}})
	go func() {
		var ack []byte
		for {
			f, err := rt.standby.ReadFrame()
			if err != nil {
				rt.done <- err
				return
			}
			b, err := wire.DecodeBatch(f.Payload)
			if err != nil {
				rt.done <- err
				return
			}
			recs := b.Records
			ack = wire.AppendAck(ack[:0], wire.Ack{Received: recs[0].LSN, Flushed: recs[0].LSN, Applied: recs[0].LSN})
			if err := rt.standby.WriteFrame(wire.FrameAck, 1, ack); err != nil {
				rt.done <- err
				return
			}
		}
	}()
	return rt, nil
}

func (rt *roundTrip) once() (wal.LSN, error) {
	if err := rt.primary.WriteFrame(wire.FrameRecords, 1, rt.frame); err != nil {
		return 0, err
	}
	f, err := rt.primary.ReadFrame()
	if err != nil {
		return 0, err
	}
	if f.Type != wire.FrameAck {
		return 0, fmt.Errorf("got frame type %v, want an ack", f.Type)
	}
	return 0, nil
}

// Close closes both ends and the listener.
func (rt *roundTrip) Close() error {
	var errs []error
	if rt.primary != nil {
		errs = append(errs, rt.primary.Close())
	}
	if rt.standby != nil {
		errs = append(errs, rt.standby.Close())
	}
	errs = append(errs, rt.l.Close())
	if rt.frame != nil {
		<-rt.done // the standby's end stops once its connection is closed
	}
	return errors.Join(errs...)
}
