package retention_test

import (
	"fmt"
	"os"
	"time"

	"github.com/continuity-go/continuity/internal/retention"
)

func ExamplePolicy_Apply() {
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var items []retention.Item
	for i := range 6 {
		at := base.Add(time.Duration(i) * 12 * time.Hour)
		items = append(items, retention.Item{ID: fmt.Sprintf("snap%d", i), Time: at})
	}

	p := retention.Policy{Last: 1, Daily: 2}
	ds, err := p.Apply(items)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p)
	if err := retention.Explain(os.Stdout, ds); err != nil {
		fmt.Println(err)
	}
	// Output:
	// keep 1 latest, 2 daily
	// TIME                     ID     ACTION  REASONS
	// 2026-03-03 12:00:00 UTC  snap5  keep    last snapshot, daily snapshot
	// 2026-03-03 00:00:00 UTC  snap4  remove
	// 2026-03-02 12:00:00 UTC  snap3  keep    daily snapshot
	// 2026-03-02 00:00:00 UTC  snap2  remove
	// 2026-03-01 12:00:00 UTC  snap1  remove
	// 2026-03-01 00:00:00 UTC  snap0  remove
	//
	// keep 2 of 6 snapshots, remove 4
}

func ExamplePolicy_Validate() {
	err := retention.Policy{Daily: -7, Within: -time.Hour}.Validate()
	fmt.Println(err)
	// Output:
	// retention: invalid policy: Daily is -7; want 0 (off), a positive count or -1 (unlimited)
	// retention: invalid policy: Within is -1h0m0s; want 0 (off) or a positive duration
}
