package main

import (
	"math"
	"slices"
	"time"
)

// The model.
//
// Records arrive at rate r; the archiver ships the pending records once
// the oldest is ShipInterval/2 old (or MaxObjectBytes of payload are
// pending), so a batch spans ShipInterval/2 of records and the next one
// starts with the next record: one upload every P = ShipInterval/2 +
// 1/r (P = MaxObjectBytes ÷ payload bytes/s if that is shorter), one
// PUT each. With IdleShipInterval set, a batch under IdleBytes waits
// until its oldest record is IdleShipInterval/2 old instead; one that
// reaches IdleBytes first ships under ShipInterval's rule (at once, if
// its oldest is already ShipInterval/2 old): a batch spans
// min(IdleShipInterval/2, max(ShipInterval/2, (⌈IdleBytes ÷ payload⌉ −
// 1)/r)) of records. A head is written when the archive moved, at most
// once per bound (ShipInterval, or IdleShipInterval if set): one PUT
// every max(bound, P), and one DELETE of the head three back. Compaction runs every Compaction[0]:
// it lists wal/ (⌈objects under wal/ ÷ 1000⌉ LIST pages), reads the
// newest timeline (one GET), then for each window length in turn merges
// every run of two or more objects whose first records fall in one
// closed window (consecutive, at most MaxCompactedBytes together): one
// GET per piece, one PUT (on S3 a multipart upload at 16 MiB and more:
// ⌈size ÷ 8 MiB⌉ + 2 requests), one DELETE per piece. Without
// compaction, wal/'s directories are listed every 30 s (one LIST). A
// writing repository lists epochs/ before its first PUT a minute or
// more after its last check (the first upload then). At start the
// archiver lists wal/ twice and wal/head/ and wal/pin/ once, and writes
// the timeline, the first head and the pin. simulate applies these
// rules event by event, with windows aligned to Unix time as the
// library aligns them.

// modelParams are a simulation's inputs.
type modelParams struct {
	rate     float64         // events per second
	payload  float64         // payload bytes per event (for MaxObjectBytes; 0: never reached)
	objBytes float64         // stored bytes of one upload
	ship     time.Duration   // ShipInterval
	idle     time.Duration   // IdleShipInterval (0: off)
	windows  []time.Duration // compaction windows; nil: NoCompaction
	start    time.Time       // the archiver's start
	span     time.Duration   // simulated time after start
	// fresh counts the start (a new archive): resume's listings and
	// writes, and heads 1 to 3 deleting nothing. Otherwise only the
	// steady state from countFrom is counted.
	fresh bool
	// countFrom: events before it are simulated but not counted (zero:
	// from start).
	countFrom time.Time
	// retain keeps objects whose last record is younger than this under
	// wal/ (0: keeps every object), as daily retention does on average.
	retain time.Duration
	// recentFor, if set, makes simulate sample every hour of the counted
	// span how many WAL objects hold records of the last recentFor: what
	// a restore from a base snapshot that old reads.
	recentFor time.Duration
}

// modelCounts are the requests a simulation counted.
type modelCounts struct {
	uploads, heads, headDeletes       float64
	compPuts, compPutsS3              float64 // compaction's merged objects: PUTs, and S3 requests (multipart)
	compGets, compDeletes, compRounds float64
	walLists, dirLists, keyLists      float64 // LIST pages of wal/ (compaction), wal/'s directories, epochs/
	timelineGets                      float64
	startLists, startPuts             float64 // resume: listings; the timeline and the pin
	walObjects                        int     // WAL objects under wal/ at the end
	walBytes                          float64 // their bytes
	recentObjects                     float64 // mean WAL objects holding the last recentFor (if asked)
}

// reqTotals are requests by operation; put is PUT-class (PUT, LIST not
// included), list LIST pages.
type reqTotals struct{ put, get, list, del float64 }

// requests are the model's counts by operation, one PUT per object.
func (m modelCounts) requests() reqTotals {
	return reqTotals{
		put:  m.uploads + m.heads + m.compPuts + m.startPuts,
		get:  m.compGets + m.timelineGets,
		list: m.walLists + m.dirLists + m.keyLists + m.startLists,
		del:  m.headDeletes + m.compDeletes,
	}
}

// s3Puts are the PUT-class requests on S3 (multipart uploads of large
// merged objects counted per request).
func (m modelCounts) s3Puts() float64 { return m.uploads + m.heads + m.compPutsS3 + m.startPuts }

// simObj is one WAL object in the simulation.
type simObj struct {
	first, last int64 // record times, Unix ns
	size        float64
}

// uploadPeriod is P: the time between two uploads under a steady load,
// with IdleShipInterval idle (0: off).
func uploadPeriod(rate, payload float64, ship, idle time.Duration) float64 {
	span := ship.Seconds() / 2 // first to last record of a batch
	if idle > 0 {
		quiet := idle.Seconds() / 2
		if payload > 0 {
			// The record that takes the batch to IdleBytes puts it back
			// under ShipInterval's rule.
			quiet = min(quiet, max(span, (math.Ceil(idleBytes/payload)-1)/rate))
		}
		span = quiet
	}
	p := span + 1/rate
	if payload > 0 {
		p = min(p, maxObjectBytes/(rate*payload)+1/rate)
	}
	return p
}

// s3PutRequests is what writing one object of size bytes costs on S3.
func s3PutRequests(size float64) float64 {
	if size < s3MultipartThreshold {
		return 1
	}
	return math.Ceil(size/s3PartBytes) + 2
}

// simulate applies the archive's request rules (see "The model") to a
// steady load of p.rate events/s for p.span.
func simulate(p modelParams) modelCounts {
	var m modelCounts
	start := p.start.UnixNano()
	end := start + int64(p.span)
	from := start
	if !p.countFrom.IsZero() {
		from = p.countFrom.UnixNano()
	}
	counted := func(t int64) bool { return t >= from && t <= end }
	period := int64(uploadPeriod(p.rate, p.payload, p.ship, p.idle) * 1e9)
	batch := period - int64(1e9/p.rate) // first to last record of a batch; it lands then
	ship := int64(max(p.ship, p.idle))  // heads: at most one per bound
	landing := func(k int64) int64 { return start + k*period + batch }

	if p.fresh {
		m.startLists, m.startPuts = 4, 2
	}
	// Heads: the first at start (fresh), then at most one per bound
	// (ShipInterval, or IdleShipInterval if set), each after a landing.
	lastHead := start
	nHeads := int64(1)
	if p.fresh {
		m.heads++
	}
	for {
		k := int64(0) // the first landing after lastHead
		if lastHead >= landing(0) {
			k = (lastHead-landing(0))/period + 1
		}
		for landing(k) <= lastHead {
			k++
		}
		at := max(lastHead+ship, landing(k))
		if at > end {
			break
		}
		lastHead = at
		nHeads++
		if counted(at) {
			m.heads++
			if !p.fresh || nHeads > keepHeads {
				m.headDeletes++
			}
		}
	}
	// Key checks: the first PUT at least a minute after the last check
	// lists epochs/ (the repository checked when it opened, at start).
	// Heads follow uploads, so that PUT is an upload.
	for checked, k := start, int64(0); ; {
		for landing(k) < checked+int64(keyCheckInterval) {
			k++
		}
		checked = landing(k)
		if checked > end {
			break
		}
		if counted(checked) {
			m.keyLists++
		}
	}

	var (
		own     []simObj // objects compaction may still merge, by first record
		kept    []simObj // final objects, oldest first
		keptLo  int      // kept[:keptLo] were deleted by retention
		nextUp  int64    // the next upload's index
		samples int
	)
	addUploads := func(until int64) {
		for ; landing(nextUp) <= until; nextUp++ {
			first := start + nextUp*period
			own = append(own, simObj{first: first, last: landing(nextUp), size: p.objBytes})
			if counted(landing(nextUp)) {
				m.uploads++
			}
		}
	}
	retire := func(now int64) {
		for keptLo < len(kept) && p.retain > 0 && kept[keptLo].last < now-int64(p.retain) {
			keptLo++
		}
	}
	walObjects := func() int { return len(own) + len(kept) - keptLo }
	listPages := func() float64 {
		return math.Ceil(float64(walObjects()+keepHeads+anchorObjects) / s3ListPage)
	}
	sample := func(now int64) {
		if p.recentFor == 0 || !counted(now) {
			return
		}
		cut := now - int64(p.recentFor)
		i, _ := slices.BinarySearchFunc(kept[keptLo:], cut, func(o simObj, t int64) int {
			if o.last < t {
				return -1
			}
			return 1
		})
		n := len(kept) - keptLo - i + len(own)
		m.recentObjects += float64(n)
		samples++
	}

	if p.windows == nil {
		for t := start + int64(deposedCheck); ; t += int64(deposedCheck) {
			if t > end {
				addUploads(end)
				break
			}
			addUploads(t)
			if counted(t) {
				m.dirLists++
			}
		}
		// Every object is final at once; move them for the count.
		kept, own = own, nil
		retire(end)
		if p.recentFor > 0 {
			for h := from + int64(time.Hour); h <= end; h += int64(time.Hour) {
				sample(h)
			}
		}
	} else {
		tick := int64(p.windows[0])
		top := int64(p.windows[len(p.windows)-1])
		nextSample := from + int64(time.Hour)
		for t := start + tick; t <= end; t += tick {
			addUploads(t)
			for p.recentFor > 0 && nextSample <= t {
				sample(nextSample)
				nextSample += int64(time.Hour)
			}
			k := (t-landing(0))/period - 1 // the last landing at or before t
			for landing(k+1) <= t {
				k++
			}
			closed := int64(math.MinInt64)
			if k >= 0 {
				closed = landing(k)
			}
			if counted(t) {
				m.walLists += listPages()
				m.timelineGets++
				m.compRounds++
			}
			for _, w := range p.windows {
				own = compactLevel(own, int64(w), closed, maxCompacted, func(run []simObj, merged simObj) {
					if counted(t) {
						m.compGets += float64(len(run))
						m.compDeletes += float64(len(run))
						m.compPuts++
						m.compPutsS3 += s3PutRequests(merged.size)
					}
				})
			}
			// Objects whose top window is closed will never merge again.
			n := 0
			for _, o := range own {
				if (o.first/top+1)*top <= closed {
					kept = append(kept, o)
				} else {
					own[n] = o
					n++
				}
			}
			own = own[:n]
			retire(t)
		}
		addUploads(end)
	}
	m.walObjects = walObjects()
	for _, o := range own {
		m.walBytes += o.size
	}
	for _, o := range kept[keptLo:] {
		m.walBytes += o.size
	}
	if samples > 0 {
		m.recentObjects /= float64(samples)
	}
	return m
}

// compactLevel merges, as archive's compactLevel does, each run of two or
// more consecutive objects whose first records fall in one window of
// width ns that closed by closed, at most maxBytes together; merged is
// called for each.
func compactLevel(own []simObj, width, closed int64, maxBytes float64, merged func(run []simObj, out simObj)) []simObj {
	var out []simObj
	for i := 0; i < len(own); {
		win := own[i].first / width
		j, size := i+1, own[i].size
		for j < len(own) && own[j].first/width == win && size+own[j].size <= maxBytes {
			size += own[j].size
			j++
		}
		if j-i < 2 || (win+1)*width > closed {
			out = append(out, own[i])
			i++
			continue
		}
		o := simObj{first: own[i].first, last: own[j-1].last, size: size}
		merged(own[i:j], o)
		out = append(out, o)
		i = j
	}
	return out
}

// projection is a schedule's requests per hour and per month at a rate,
// in steady state with a full point-in-time window, and the cost.
type projection struct {
	rate  int
	sched schedule
	idle  time.Duration // IdleShipInterval (0: off)
	hour  modelCounts   // one hour of the archiver in steady state

	// Per day: the restore drills, verifies and retention runs.
	drillGets, drillLists, verifyGets, verifyLists, retentionLists, retentionGets float64

	objectsHeld   int     // WAL objects under wal/ (the window and up to a day before)
	bytesHeld     float64 // their bytes
	recentObjects float64 // WAL objects a drill from the newest base reads, on average
}

// projectionDay is the counted day of a projection's simulation.
const projectionDay = 24 * time.Hour

// project simulates sched at rate (objBytes per upload), with
// IdleShipInterval idle (0: off), long enough to fill the point-in-time
// window and counts its last day.
func project(rate int, payload, objBytes float64, sched schedule, idle time.Duration) projection {
	retain := pitrWindow + basePeriod/2 // retention deletes daily: on average half a day more
	warm := retain + 2*time.Hour
	if sched.windows != nil {
		warm = max(warm, 2*sched.windows[len(sched.windows)-1])
	}
	start := time.Date(2026, 1, 5, 0, 0, 7, 0, time.UTC) // an arbitrary start, not on a window edge
	m := simulate(modelParams{
		rate: float64(rate), payload: payload, objBytes: objBytes, ship: shipInterval, idle: idle, windows: sched.windows,
		start: start, span: warm + projectionDay, countFrom: start.Add(warm), retain: retain, recentFor: basePeriod / 2,
	})
	pr := projection{rate: rate, sched: sched, idle: idle, objectsHeld: m.walObjects, bytesHeld: m.walBytes, recentObjects: m.recentObjects}
	pr.hour = m.scale(float64(time.Hour) / float64(projectionDay))
	pages := math.Ceil(float64(m.walObjects+keepHeads+anchorObjects) / s3ListPage)
	// A drill to the latest state: list wal/, the heads and the
	// snapshots; read the timeline, the newest head, the manifests, the
	// objects since the newest base (on average half a day's), the last
	// one and the first record's once more (authentication, times).
	pr.drillLists = drillsPerDay * (pages + 2)
	pr.drillGets = drillsPerDay * (m.recentObjects + 2 + 1 + 1 + manifestsKept)
	// VerifyPITR: list wal/, the snapshots; read every object under wal/
	// and the manifests.
	pr.verifyLists = verifiesPerDay * (pages + 1)
	pr.verifyGets = verifiesPerDay * (float64(m.walObjects+keepHeads+anchorObjects) + manifestsKept)
	// ApplyRetention: list wal/, the snapshots, the heads and the pins;
	// read the manifests, the timeline, the head and the pin. Its
	// DELETEs are free.
	pr.retentionLists = pages + 3
	pr.retentionGets = manifestsKept + 3
	return pr
}

// scale multiplies the request counts by f.
func (m modelCounts) scale(f float64) modelCounts {
	s := m
	for _, v := range []*float64{&s.uploads, &s.heads, &s.headDeletes, &s.compPuts, &s.compPutsS3, &s.compGets, &s.compDeletes, &s.compRounds,
		&s.walLists, &s.dirLists, &s.keyLists, &s.timelineGets, &s.startLists, &s.startPuts} {
		*v *= f
	}
	return s
}

// monthly are a projection's requests and dollars per month on S3.
type monthly struct {
	put, get, list, del      float64 // requests (put: S3 PUT-class requests other than LIST)
	requestCost, storageCost float64 // $
}

// month returns pr's month: the archiver's hours, and the daily drills,
// verifies and retention.
func (pr projection) month() monthly {
	h, days := pr.hour, float64(hoursPerMonth)/24
	var mo monthly
	mo.put = hoursPerMonth * h.s3Puts()
	mo.get = hoursPerMonth*(h.compGets+h.timelineGets) + days*(pr.drillGets+pr.verifyGets+pr.retentionGets)
	mo.list = hoursPerMonth*(h.walLists+h.dirLists+h.keyLists) + days*(pr.drillLists+pr.verifyLists+pr.retentionLists)
	mo.del = hoursPerMonth * (h.headDeletes + h.compDeletes)
	mo.requestCost = (mo.put+mo.list)*priceClassA + mo.get*priceClassB
	mo.storageCost = pr.bytesHeld / 1e9 * priceGBMonth
	return mo
}

// studyResult is every candidate's projection at every rate.
type studyResult struct {
	rates []int
	projs [][]projection // [candidate][rate]
}

// study projects every candidate at every rate, with the measured upload
// sizes (objBytes by rate).
func study(payload float64, objBytes map[int]float64) studyResult {
	res := studyResult{rates: costRates}
	for _, c := range candidates {
		var row []projection
		for _, r := range costRates {
			row = append(row, project(r, payload, objBytes[r], c, 0))
		}
		res.projs = append(res.projs, row)
	}
	return res
}

// best returns the candidate with the lowest request cost at rate index
// ri, and the one whose worst ratio to the cheapest at any rate is
// lowest (the schedule to use when the rate is not known).
func (s studyResult) best() (perRate []int, overall int, worst []float64) {
	perRate = make([]int, len(s.rates))
	for ri := range s.rates {
		for ci := range s.projs {
			if s.projs[ci][ri].month().requestCost < s.projs[perRate[ri]][ri].month().requestCost {
				perRate[ri] = ci
			}
		}
	}
	worst = make([]float64, len(s.projs))
	for ci := range s.projs {
		for ri := range s.rates {
			worst[ci] = max(worst[ci], s.projs[ci][ri].month().requestCost/s.projs[perRate[ri]][ri].month().requestCost)
		}
		if worst[ci] < worst[overall] {
			overall = ci
		}
	}
	return perRate, overall, worst
}

// measuredObjBytes returns the mean upload size of the default runs
// (default compaction, no IdleShipInterval) by rate.
func (j *costJob) measuredObjBytes() map[int]float64 {
	out := map[int]float64{}
	for _, r := range j.runs {
		if r.sched.name == defaultSchedule.name && r.idle == 0 {
			out[r.rate] = r.objBytes
		}
	}
	return out
}

// relErr is (model - measured) ÷ measured, 0 when both are 0.
func relErr(model, measured float64) float64 {
	if measured == 0 {
		if model == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return (model - measured) / measured
}

// measuredCost is what the run's counted requests cost on S3's prices
// (one PUT per object, as counted).
func measuredCost(c reqCounts) float64 {
	return float64(c.get(opPut, "")+c.get(opList, ""))*priceClassA + float64(c.get(opGet, "")+c.get(opHead, ""))*priceClassB
}

// modelCost is the same for the model's counts.
func modelCost(m modelCounts) float64 {
	t := m.requests()
	return (t.put+t.list)*priceClassA + t.get*priceClassB
}
