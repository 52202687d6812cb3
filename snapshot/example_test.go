package snapshot_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/continuity-go/continuity/snapshot"
)

// A host saves its state twice; the second save stores only the change.
func Example() {
	ctx := context.Background()
	// In production: blob.OpenBucket(ctx, "s3://backups?region=eu-west-1")
	// or "file:///var/backups/app".
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()

	key := snapshot.RawKey([32]byte{ /* from your secret store */ })
	repo, err := snapshot.Init(ctx, bucket, key, snapshot.Format{}, snapshot.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer repo.Close()

	state := strings.Repeat(`{"event":"order.created","amount":1999}`+"\n", 50_000)
	m1, st1, err := repo.Save(ctx, strings.NewReader(state), snapshot.Meta{LSN: 50_000, Epoch: 1})
	if err != nil {
		log.Fatal(err)
	}
	edited := state + `{"event":"order.paid","amount":1999}` + "\n"
	m2, st2, err := repo.Save(ctx, strings.NewReader(edited), snapshot.Meta{LSN: 50_001, Epoch: 1, Parent: m1.ID})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("first: %d bytes in, %d chunks new\n", st1.BytesIn, st1.ChunksNew)
	fmt.Printf("second: %d bytes in, %d chunk new\n", st2.BytesIn, st2.ChunksNew)

	var out bytes.Buffer
	if err := repo.Restore(ctx, m2.ID, &out); err != nil {
		log.Fatal(err)
	}
	fmt.Println("restored exactly:", out.String() == edited, "at LSN", m2.LSN)
	// Output:
	// first: 2000000 bytes in, 6 chunks new
	// second: 2000037 bytes in, 1 chunk new
	// restored exactly: true at LSN 50001
}

// Retention: keep 7 daily, 4 weekly, 12 monthly and 10 yearly snapshots,
// show why each is kept, then free the data of the others.
func ExampleRepo_Forget() {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	repo, err := snapshot.Init(ctx, bucket, snapshot.RawKey([32]byte{1}), snapshot.Format{}, snapshot.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer repo.Close()
	start := time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)
	for day := range 60 {
		state := fmt.Sprintf("state of day %d", day)
		if _, _, err := repo.Save(ctx, strings.NewReader(state), snapshot.Meta{Time: start.AddDate(0, 0, day)}); err != nil {
			log.Fatal(err)
		}
	}
	policy := snapshot.Policy{Daily: 7, Weekly: 4, Monthly: 12, Yearly: 10}
	decisions, err := repo.Forget(ctx, policy, false)
	if err != nil {
		log.Fatal(err)
	}
	kept := 0
	for _, d := range decisions {
		if d.Keep {
			kept++
		}
	}
	if _, err := repo.Prune(ctx, snapshot.PruneOptions{}); err != nil {
		log.Fatal(err)
	}
	rep, err := repo.Verify(ctx, snapshot.VerifyOptions{ReadData: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: kept %d of %d; verify ok: %v\n", policy, kept, len(decisions), rep.OK())
	// Output:
	// keep 7 daily, 4 weekly, 12 monthly, 10 yearly: kept 12 of 60; verify ok: true
}
