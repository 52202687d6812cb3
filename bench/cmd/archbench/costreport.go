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
// default schedule, the schedule study, and what IdleShipInterval
// saves at low rates.
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
	rows = append(rows, sys.Load(), []string{"Runs", fmt.Sprintf("per store, %s events/s of %s, each with the default compaction and with %s; at %s events/s also with the default compaction and IdleShipInterval %s; %v of load each, ShipInterval %v%s",
		joinRates(), sizeName(s.payload), scaledSchedule.name, joinInts(idleRates), joinIdle(), s.costDuration, shipInterval, quickNote(s))})
	benchkit.Table(&b, []string{"", ""}, rows)
	for _, j := range res.cost {
		renderCostJob(&b, s, j)
	}
	renderIdleVerdicts(&b, s, res.cost)
	return b.String()
}

func joinRates() string {
	var parts []string
	for _, r := range costRates {
		parts = append(parts, thousands(r))
	}
	return strings.Join(parts, ", ")
}

// joinInts lists rates with thousands separators, joined by "and".
func joinInts(rates []int) string {
	var parts []string
	for _, r := range rates {
		parts = append(parts, thousands(r))
	}
	return strings.Join(parts, " and ")
}

// joinIdle lists idleIntervals.
func joinIdle() string {
	var parts []string
	for _, d := range idleIntervals {
		parts = append(parts, d.String())
	}
	return strings.Join(parts, " and ")
}

// renderCostJob writes one store's tables.
func renderCostJob(b *strings.Builder, s settings, j *costJob) {
	fmt.Fprintf(b, "\n#### Requests counted (%s), from NewArchiver to the end of the load\n\n", j.store.label)
	var rows [][]string
	for _, r := range j.runs {
		c := r.counts
		rows = append(rows, []string{thousands(r.rate), r.sched.name, idleName(r.idle), benchkit.Sig3(r.span.Seconds()),
			benchkit.Thousands(r.uploads), benchkit.Thousands(c.get(opPut, "wal") - r.uploads), benchkit.Thousands(c.get(opPut, "head")),
			benchkit.Thousands(c.get(opPut, "pin") + c.get(opPut, "timeline") + c.get(opPut, "repo")),
			benchkit.Thousands(c.get(opGet, "wal")), benchkit.Thousands(c.get(opGet, "") - c.get(opGet, "wal")),
			benchkit.Thousands(c.get(opList, "wal")), benchkit.Thousands(c.get(opList, "") - c.get(opList, "wal")),
			benchkit.Thousands(c.get(opDelete, "wal")), benchkit.Thousands(c.get(opDelete, "head")), benchkit.Thousands(c.get(opHead, "")),
			benchkit.Sig3(float64(c.up) / 1e6), benchkit.Sig3(float64(c.down) / 1e6),
			fmt.Sprint(r.held), benchkit.Sig3(ms(r.lagP99)), benchkit.Sig3(ms(r.lagMax))})
	}
	benchkit.Table(b, []string{"events/s", "compaction", "IdleShipInterval", "s counted", "uploads (PUT)", "compaction PUT", "head PUT", "other PUT", "WAL GET", "other GET",
		"LIST wal/", "other LIST", "WAL DELETE", "head DELETE", "HEAD", "MB up", "MB down", "WAL objects held after Flush", "lag p99 ms", "lag max ms"}, rows)
	b.WriteString("\nuploads: OnUpload calls during the load; compaction PUT: the other PUTs of WAL objects (merged objects); other PUT: the timeline, the pin and the repository's own objects. other GET: the timeline (read by every compaction round), heads, pins. other LIST: wal/head/, wal/pin/, wal/'s directories, epochs/ (the repository's key check). Every LIST is one page of at most 1,000 keys. MB up and down: object bytes written and read. lag: per record, from its Append returning to the upload that archived it (the promise, Status().Bound: ShipInterval, 1 s, or IdleShipInterval where set).\n")

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
		rows = append(rows, []string{thousands(r.rate), r.sched.name, idleName(r.idle),
			cell(r.model.uploads, r.uploads), cell(r.model.heads, c.get(opPut, "head")), cell(r.model.compPuts, c.get(opPut, "wal")-r.uploads),
			cell(m.put, c.get(opPut, "")), cell(m.get, c.get(opGet, "")), cell(m.list, c.get(opList, "")), cell(m.del, c.get(opDelete, "")),
			signedPct(ec)})
	}
	benchkit.Table(b, []string{"events/s", "compaction", "IdleShipInterval", "uploads", "head PUT", "compaction PUT", "all PUT", "all GET", "all LIST", "all DELETE", "request $ error"}, rows)
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
			if r.rate == pr.rate && r.sched.name == defaultSchedule.name && r.idle == 0 {
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

	renderIdle(b, s, j)
}

// idleRow is one configuration of the IdleShipInterval table: its run
// and its month.
type idleRow struct {
	run *costRun
	pr  projection
	mo  monthly
}

// idleRows returns, per rate of idleRates, the run with the default
// options (IdleShipInterval off) and those with each of idleIntervals,
// all with the default compaction, each with its projection (from its
// own mean upload size). A configuration not run is left out.
func (j *costJob) idleRows(payload float64) [][]idleRow {
	var out [][]idleRow
	for _, rate := range idleRates {
		var rows []idleRow
		for _, idle := range append([]time.Duration{0}, idleIntervals...) {
			for _, r := range j.runs {
				if r.rate == rate && r.idle == idle && r.sched.name == defaultSchedule.name {
					pr := project(rate, payload, r.objBytes, defaultSchedule, idle)
					rows = append(rows, idleRow{run: r, pr: pr, mo: pr.month()})
					break
				}
			}
		}
		if len(rows) > 0 {
			out = append(out, rows)
		}
	}
	return out
}

// vsDefault is row's requests $ a month ÷ the default's (rows[0], if it
// is the default).
func vsDefault(rows []idleRow, row idleRow) float64 {
	if rows[0].run.idle != 0 || rows[0].mo.requestCost == 0 {
		return math.NaN()
	}
	return row.mo.requestCost / rows[0].mo.requestCost
}

// renderIdle writes one store's IdleShipInterval table.
func renderIdle(b *strings.Builder, s settings, j *costJob) {
	groups := j.idleRows(float64(s.payload))
	if len(groups) == 0 {
		return
	}
	fmt.Fprintf(b, "\n#### IdleShipInterval at %s events/s: requests, cost and lag (%s)\n\n", joinInts(idleRates), j.store.label)
	var rows [][]string
	for _, g := range groups {
		for _, row := range g {
			r, mo := row.run, row.mo
			gap := "—"
			if r.gap > 0 {
				gap = benchkit.Sig3(r.gap.Seconds())
			}
			perHour := func(v float64) string { return benchkit.Thousands(int64(math.Round(v / hoursPerMonth))) }
			perMonth := func(v float64) string { return benchkit.Thousands(int64(math.Round(v))) }
			within := "yes"
			if r.lagMax > r.bound {
				within = "**no**"
			}
			rows = append(rows, []string{thousands(r.rate), idleName(r.idle), r.bound.String(),
				gap + " / " + benchkit.Sig3(uploadPeriod(float64(r.rate), float64(s.payload), shipInterval, r.idle)),
				benchkit.Thousands(r.counts.get(opPut, "head")) + " / " + benchkit.Thousands(r.uploads),
				perHour(mo.put) + " / " + perHour(mo.get) + " / " + perHour(mo.list),
				perMonth(mo.put) + " / " + perMonth(mo.get) + " / " + perMonth(mo.list),
				dollars(mo.requestCost), benchkit.Ratio(vsDefault(g, row)),
				benchkit.Sig3(r.lagP99.Seconds()), benchkit.Sig3(r.lagMax.Seconds()), benchkit.Ratio(float64(r.lagMax) / float64(r.bound)), within})
		}
	}
	benchkit.Table(b, []string{"events/s", "IdleShipInterval", "bound (Status().Bound)", "upload every s: measured / model", "head PUT / uploads in the run",
		"PUT / GET / LIST per hour", "PUT / GET / LIST per month", "requests $/month", "$ ÷ default", "lag p99 s", "lag max s", "lag max ÷ bound", "lag max ≤ bound"}, rows)
	fmt.Fprintf(b, "\nThe default compaction throughout; IdleBytes at its default, %s (%s events at %s). Each row is one run of the tables above (%v of load); the hour and the month are the model's steady state, as in \"Per hour and per month\" above (the month's requests, daily drill, VerifyPITR and ApplyRetention included, at the same S3 prices; per hour: the month's ÷ %d), extrapolated from the run with its own mean upload size: \"upload every\" sets them, measured as the mean gap between the load's uploads (— with fewer than two) against the model's period, and \"The model against the counts\" checks the model over the run's own span. $ ÷ default: requests $/month over the default's (IdleShipInterval off) at the same rate. lag: per record, from its Append returning to the upload that archived it, over the whole run (the last batch left to ship on its own); bound: what the archiver promises, Status().Bound.\n",
		sizeName(idleBytes), thousands(int(math.Ceil(float64(idleBytes)/float64(s.payload)))), sizeName(s.payload), s.costDuration, hoursPerMonth)
	if n := countFlushed(j); n > 0 {
		fmt.Fprintf(b, "\nIn %d run(s) of this store the archive had not caught up on its own %v after the load (-cost-duration shorter than Bound/2): the last records were flushed, and their lag is shorter than the archiver alone would have made it.\n", n, min(drainTimeout, s.costDuration))
	}
}

// countFlushed counts j's runs whose last records were flushed.
func countFlushed(j *costJob) int {
	n := 0
	for _, r := range j.runs {
		if r.flushed {
			n++
		}
	}
	return n
}

// renderIdleVerdicts writes the IdleShipInterval verdicts over every
// store: the lag against its bound in every run, and what the option
// saves at the lowest rate.
func renderIdleVerdicts(b *strings.Builder, s settings, jobs []*costJob) {
	type worst struct {
		lag, bound time.Duration
	}
	var lagParts []string
	ok, runs := true, 0
	saving := map[time.Duration][]string{}
	for _, j := range jobs {
		groups := j.idleRows(float64(s.payload))
		var parts []string
		for _, idle := range idleIntervals {
			var w worst
			for _, g := range groups {
				for _, row := range g {
					r := row.run
					if r.idle != idle {
						continue
					}
					runs++
					ok = ok && r.lagMax <= r.bound
					if float64(r.lagMax)/float64(r.bound) >= float64(w.lag)/float64(max(w.bound, 1)) {
						w = worst{r.lagMax, r.bound}
					}
				}
			}
			if w.bound > 0 {
				parts = append(parts, fmt.Sprintf("%v: %s s of %s s", idle, benchkit.Sig3(w.lag.Seconds()), benchkit.Sig3(w.bound.Seconds())))
			}
		}
		if len(parts) > 0 {
			lagParts = append(lagParts, j.store.label+": "+strings.Join(parts, ", "))
		}
		if len(groups) == 0 || groups[0][0].run.idle != 0 || groups[0][0].run.rate != idleRates[0] {
			continue
		}
		g := groups[0]
		for _, row := range g[1:] {
			d := g[0].mo
			saving[row.run.idle] = append(saving[row.run.idle], fmt.Sprintf("%s: %s× (%s → %s a month; PUTs %s× fewer)", j.store.label,
				benchkit.Ratio(d.requestCost/row.mo.requestCost), dollars(d.requestCost), dollars(row.mo.requestCost), benchkit.Ratio(d.put/row.mo.put)))
		}
	}
	if runs == 0 {
		return
	}
	b.WriteString("\n#### IdleShipInterval: verdicts\n\n")
	met := "yes"
	if !ok {
		met = "**no**"
	}
	rows := [][]string{{"IdleShipInterval lag never past its bound (max lag ≤ bound, in every run)",
		fmt.Sprintf("%d runs; largest max lag by IdleShipInterval: %s", runs, strings.Join(lagParts, "; ")), met}}
	for _, idle := range idleIntervals {
		if v := saving[idle]; len(v) > 0 {
			rows = append(rows, []string{fmt.Sprintf("Saving at %s events/s, IdleShipInterval %s: requests $/month, default ÷ this", thousands(idleRates[0]), idle),
				strings.Join(v, "; "), "(figure)"})
		}
	}
	benchkit.Table(b, []string{"check", "measured", "met?"}, rows)
	b.WriteString("\nmax lag: the largest per-record lag of a run (over the rates measured); bound: Status().Bound, IdleShipInterval. Saving: the month's request cost at S3's prices (table above) with the default options over the same with IdleShipInterval set, at the same rate; the RPO grows from ShipInterval to IdleShipInterval in exchange.\n")
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
