package main

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

// renderCost formats the cost suite's results as Markdown: the counts,
// the model against them, the projection per hour and month at the
// default schedule, and the schedule study.
func renderCost(s settings, sys benchkit.System, res *results, args string) string {
	var b strings.Builder
	cmd := "go run ./cmd/archbench"
	if args != "" {
		cmd += " " + args
	}
	fmt.Fprintf(&b, "Measured %s with `%s`.\n\n", sys.Date.Format("2006-01-02 15:04 MST"), cmd)
	rows := sys.Facts()
	for _, j := range res.cost {
		rows = append(rows, []string{"Store " + j.store.label, j.store.desc + "; every request counted by a gocloud driver.Bucket wrapped around it (counts do not depend on the store)"})
	}
	rows = append(rows, sys.Load(), []string{"Runs", fmt.Sprintf("per store, %s events/s of %s, each with the default compaction and with %s, %v of load each, ShipInterval %v%s",
		joinRates(), sizeName(s.payload), scaledSchedule.name, s.costDuration, shipInterval, quickNote(s))})
	benchkit.Table(&b, []string{"", ""}, rows)
	for _, j := range res.cost {
		renderCostJob(&b, s, j)
	}
	return b.String()
}

func joinRates() string {
	var parts []string
	for _, r := range costRates {
		parts = append(parts, thousands(r))
	}
	return strings.Join(parts, ", ")
}

// renderCostJob writes one store's tables.
func renderCostJob(b *strings.Builder, s settings, j *costJob) {
	fmt.Fprintf(b, "\n#### Requests counted (%s), from NewArchiver to the end of the load\n\n", j.store.label)
	var rows [][]string
	for _, r := range j.runs {
		c := r.counts
		rows = append(rows, []string{thousands(r.rate), r.sched.name, benchkit.Sig3(r.span.Seconds()),
			benchkit.Thousands(r.uploads), benchkit.Thousands(c.get(opPut, "wal") - r.uploads), benchkit.Thousands(c.get(opPut, "head")),
			benchkit.Thousands(c.get(opPut, "pin") + c.get(opPut, "timeline") + c.get(opPut, "repo")),
			benchkit.Thousands(c.get(opGet, "wal")), benchkit.Thousands(c.get(opGet, "") - c.get(opGet, "wal")),
			benchkit.Thousands(c.get(opList, "wal")), benchkit.Thousands(c.get(opList, "") - c.get(opList, "wal")),
			benchkit.Thousands(c.get(opDelete, "wal")), benchkit.Thousands(c.get(opDelete, "head")), benchkit.Thousands(c.get(opHead, "")),
			benchkit.Sig3(float64(c.up) / 1e6), benchkit.Sig3(float64(c.down) / 1e6),
			fmt.Sprint(r.held), benchkit.Sig3(ms(r.lagP99)), benchkit.Sig3(ms(r.lagMax))})
	}
	benchkit.Table(b, []string{"events/s", "compaction", "s counted", "uploads (PUT)", "compaction PUT", "head PUT", "other PUT", "WAL GET", "other GET",
		"LIST wal/", "other LIST", "WAL DELETE", "head DELETE", "HEAD", "MB up", "MB down", "WAL objects held after Flush", "lag p99 ms", "lag max ms"}, rows)
	b.WriteString("\nuploads: OnUpload calls during the load; compaction PUT: the other PUTs of WAL objects (merged objects); other PUT: the timeline, the pin and the repository's own objects. other GET: the timeline (read by every compaction round), heads, pins. other LIST: wal/head/, wal/pin/, wal/'s directories, epochs/ (the repository's key check). Every LIST is one page of at most 1,000 keys. MB up and down: object bytes written and read. lag: per record, from its Append returning to the upload that archived it (the 1 s promise: ShipInterval).\n")

	fmt.Fprintf(b, "\n#### The model against the counts (%s)\n\n", j.store.label)
	rows = nil
	var worst, worstCost float64
	for _, r := range j.runs {
		m, c := r.model.requests(), r.counts
		cell := func(model float64, measured int64) string {
			e := relErr(model, float64(measured))
			if float64(measured) >= 20 {
				worst = max(worst, math.Abs(e))
			}
			return fmt.Sprintf("%s / %s (%s)", benchkit.Thousands(measured), benchkit.Thousands(int64(math.Round(model))), signedPct(e))
		}
		ec := relErr(modelCost(r.model), measuredCost(c))
		worstCost = max(worstCost, math.Abs(ec))
		rows = append(rows, []string{thousands(r.rate), r.sched.name,
			cell(r.model.uploads, r.uploads), cell(r.model.heads, c.get(opPut, "head")), cell(r.model.compPuts, c.get(opPut, "wal")-r.uploads),
			cell(m.put, c.get(opPut, "")), cell(m.get, c.get(opGet, "")), cell(m.list, c.get(opList, "")), cell(m.del, c.get(opDelete, "")),
			signedPct(ec)})
	}
	benchkit.Table(b, []string{"events/s", "compaction", "uploads", "head PUT", "compaction PUT", "all PUT", "all GET", "all LIST", "all DELETE", "request $ error"}, rows)
	fmt.Fprintf(b, "\nEach cell: measured / model (model's error). The model (below the tables) simulated each run's span from the archiver's start, its windows aligned to the same Unix time, with the run's mean upload size. Largest error of a cell counting 20 requests or more: %s; of the runs' request cost at S3's prices: %s.\n",
		benchkit.Sig3(100*worst)+"%", benchkit.Sig3(100*worstCost)+"%")

	objBytes := j.measuredObjBytes()
	st := study(float64(s.payload), objBytes)
	def := st.projs[0]
	fmt.Fprintf(b, "\n#### Per hour and per month with the default options (%s)\n\n", j.store.label)
	rows = nil
	for ri, pr := range def {
		h, mo := pr.hour, pr.month()
		measured := "—"
		for _, r := range j.runs {
			if r.rate == pr.rate && r.sched.name == defaultSchedule.name {
				measured = benchkit.Thousands(int64(math.Round(float64(r.uploads) / r.span.Hours())))
			}
		}
		up := h.uploads * objBytes[costRates[ri]]
		rows = append(rows, []string{thousands(pr.rate),
			measured, benchkit.Thousands(int64(math.Round(h.uploads))), benchkit.Sig3(up / 1e6), benchkit.Thousands(int64(math.Round(h.heads))),
			benchkit.Thousands(int64(math.Round(h.compPuts))), benchkit.Thousands(int64(math.Round(h.compGets))),
			benchkit.Thousands(int64(pr.objectsHeld)), benchkit.Sig3(pr.bytesHeld / 1e9),
			millions(mo.put), millions(mo.get), millions(mo.list), millions(mo.del),
			dollars(mo.put * priceClassA), dollars(mo.get * priceClassB), dollars(mo.list * priceClassA),
			dollars(mo.requestCost), dollars(mo.storageCost)})
	}
	benchkit.Table(b, []string{"events/s", "uploads/h measured", "uploads/h model", "MB uploaded/h", "heads/h", "compaction PUT/h", "compaction GET/h",
		"WAL objects held", "GB held", "PUT/month", "GET/month", "LIST/month", "DELETE/month", "PUT $/month", "GET $/month", "LIST $/month", "requests $/month", "storage $/month"}, rows)
	fmt.Fprintf(b, "\nSteady state: the model run for %v (the point-in-time window of %v plus half a day, as daily retention keeps on average, plus warm-up), counting its last day, with %s of payload per event and the measured mean upload size per rate. MB uploaded/h: the archiver's uploads (the objects compaction writes again are on top). PUT/month counts S3 requests: a merged object of 16 MiB or more is a multipart upload of ⌈size ÷ 8 MiB⌉ + 2 requests. GET and LIST include, per day, %d restore drill to the latest state (the objects since the newest daily base snapshot: on average half a day's), %d VerifyPITR (every object under wal/) and one ApplyRetention; the base snapshots' own requests depend on the state's size and are left out. Month: %d hours. Prices: S3 Standard, us-east-1, as of %s: PUT, COPY, POST, LIST $%.3f per 1,000; GET and other $%.4f per 1,000; DELETE free; $%.3f per GB-month. Source: %s.\n",
		pitrWindow+basePeriod/2+2*time.Hour+projectionDay, pitrWindow, sizeName(s.payload), drillsPerDay, verifiesPerDay, hoursPerMonth, priceDate,
		priceClassA*1000, priceClassB*1000, priceGBMonth, priceSource)

	fmt.Fprintf(b, "\n#### Compaction schedules: requests $ per month (%s)\n\n", j.store.label)
	perRate, overall, worstRatio := st.best()
	head := []string{"compaction"}
	for _, r := range st.rates {
		head = append(head, thousands(r)+" events/s $", thousands(r)+": PUT / GET / LIST millions", thousands(r)+": objects held / read by a drill")
	}
	head = append(head, "worst ÷ cheapest")
	rows = nil
	for ci, row := range st.projs {
		cells := []string{st.projs[ci][0].sched.name}
		for ri, pr := range row {
			mo := pr.month()
			c := dollars(mo.requestCost)
			if perRate[ri] == ci {
				c = "**" + c + "**"
			}
			cells = append(cells, c, fmt.Sprintf("%s / %s / %s", millions(mo.put), millions(mo.get), millions(mo.list)),
				benchkit.Thousands(int64(pr.objectsHeld))+" / "+benchkit.Thousands(int64(math.Round(pr.recentObjects))))
		}
		cells = append(cells, benchkit.Ratio(worstRatio[ci]))
		rows = append(rows, cells)
	}
	benchkit.Table(b, head, rows)
	fmt.Fprintf(b, "\nThe same model and month as above for each schedule (ShipInterval 1 s throughout: compaction never delays an upload, so every schedule keeps the 1 s promise); bold: the cheapest at that rate. objects held: WAL objects under wal/ at the end of the simulated day (just after a daily window closed, so fewer than mid-day with a 1 d level); read by a drill: the WAL objects a restore from the newest base snapshot reads (on average; each a GET, and part of the RTO). worst ÷ cheapest: the schedule's highest ratio to the cheapest over the three rates. ")
	fmt.Fprintf(b, "Cheapest overall (lowest worst ratio): %s", st.projs[overall][0].sched.name)
	var vs []string
	for ri := range st.rates {
		d, o := st.projs[0][ri].month().requestCost, st.projs[overall][ri].month().requestCost
		vs = append(vs, fmt.Sprintf("%s at %s events/s (%s of the default's %s)", dollars(o), thousands(st.rates[ri]), signedPct(relErr(o, d)), dollars(d)))
	}
	fmt.Fprintf(b, ": %s.\n", strings.Join(vs, ", "))
}

// signedPct formats a ratio as a signed percentage.
func signedPct(v float64) string {
	if math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", 100*v)
}

// millions formats a count in millions.
func millions(v float64) string { return fmt.Sprintf("%.2f", v/1e6) }

// dollars formats an amount.
func dollars(v float64) string { return fmt.Sprintf("$%.2f", v) }
