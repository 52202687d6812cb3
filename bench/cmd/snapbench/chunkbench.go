package main

import (
	"fmt"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"strconv"
	"strings"
	"time"

	"github.com/continuity-go/continuity/bench/internal/chunkers"
)

// The chunkers suite: continuity's chunker beside restic/chunker,
// jotfs/fastcdc-go and Plakar's fastcdc and jc (internal/chunkers), each
// on one goroutine over the state in memory, streamed through the
// library's io.Reader API, at about 64 KiB average.

// The chunker targets.
const (
	// targetVsResticChunker is how many times restic/chunker's speed ours
	// must reach (7).
	targetVsResticChunker = 5.0
	// targetVsFastestChunker: ours at least as fast as the fastest other
	// Go CDC (8).
	targetVsFastestChunker = 1.0
)

// chunkerJob collects the chunkers' measurements on one kind of data:
// GB/s by chunker, one map per run; the chunk counts and the reuse, which
// do not change between runs, from the first run.
type chunkerJob struct {
	opJob
	chunks map[string]int
	// reuse is the share of the edited state's bytes in chunks of the
	// state, by chunker; nil when the kind has no shift case.
	reuse      map[string]float64
	shift      chunkers.ShiftCase
	shiftBytes int // the size of the state the reuse was measured on
	size       int // the size of the state the speed was measured on
}

// measureChunkers chunks data with each of impls once and adds a run of
// GB/s (10^9 bytes of state per second) to j. In its first run it also
// counts the chunks and measures the reuse on the first
// chunkers.ShiftBytes of data.
func measureChunkers(j *chunkerJob, impls []chunkers.Impl, data []byte) (map[string]float64, error) {
	out := map[string]float64{}
	first := j.chunks == nil
	if first {
		j.chunks, j.size = map[string]int{}, len(data)
	}
	for _, impl := range impls {
		freeMemory()
		start := time.Now()
		n, err := chunkers.Stream(impl, data, func([]byte) {})
		d := time.Since(start)
		if err != nil {
			return nil, err
		}
		out[impl.Name] = float64(len(data)) / d.Seconds() / 1e9
		if first {
			j.chunks[impl.Name] = n
		}
	}
	j.runs = append(j.runs, out)
	if sc, ok := chunkers.ShiftCaseOf(j.data); ok && first {
		old := data[:min(len(data), chunkers.ShiftBytes)]
		edited := sc.Edit(old)
		j.reuse, j.shift, j.shiftBytes = map[string]float64{}, sc, len(old)
		for _, impl := range impls {
			r, err := chunkers.Reuse(impl, old, edited)
			if err != nil {
				return nil, fmt.Errorf("reuse: %w", err)
			}
			j.reuse[impl.Name] = r
		}
	}
	return out, nil
}

// fastestOther returns the chunker other than ours with the highest
// median GB/s in j, among FastCDC implementations only if fastCDC.
func (j *chunkerJob) fastestOther(impls []chunkers.Impl, fastCDC bool) (string, float64) {
	name, best := "", 0.0
	for _, impl := range impls {
		if impl.Name == chunkers.OursName || fastCDC && !impl.FastCDC {
			continue
		}
		if v := j.stat(impl.Name).Med; v > best {
			name, best = impl.Name, v
		}
	}
	return name, best
}

// meetsShift says whether impl's reuse on j meets the requirement.
func (j *chunkerJob) meetsShift(impl string) bool {
	return j.reuse != nil && j.reuse[impl] >= j.shift.AtLeast
}

// chunkerName labels a chunker in the report.
func chunkerName(impl chunkers.Impl) string {
	switch impl.Name {
	case chunkers.OursName:
		return "continuity (internal/cdc, DefaultParams)"
	case "restic":
		return "restic/chunker (Rabin)"
	case "jotfs":
		return "jotfs/fastcdc-go"
	case "plakar-fastcdc":
		return "Plakar go-cdc-chunkers fastcdc"
	case "plakar-jc":
		return "Plakar go-cdc-chunkers jc"
	}
	return impl.Name
}

// renderChunkers writes the chunkers table, the chunker targets (7) to
// (9) and why continuity uses its own chunker.
func renderChunkers(b *strings.Builder, res *results) {
	b.WriteString("\n#### Chunkers: one goroutine, about 64 KiB average, streamed from memory\n\n")
	var rows [][]string
	var shifted []*chunkerJob
	for _, c := range res.chunkers {
		if c.reuse != nil {
			shifted = append(shifted, c)
		}
		for _, impl := range res.impls {
			reused := "—"
			if c.reuse != nil {
				reused = percent(c.reuse[impl.Name])
			}
			rows = append(rows, []string{c.data, chunkerName(impl), benchkit.RangeOf(c.stat(impl.Name), benchkit.Sig3),
				benchkit.Sig3(float64(c.size) / float64(max(1, c.chunks[impl.Name])) / 1024), reused})
		}
	}
	benchkit.Table(b, []string{"data", "chunker", "GB/s", "mean chunk KiB", "bytes reused after the changes"}, rows)
	fmt.Fprintf(b, "\nGB/s: state bytes (10^9) per second, each library's stream API reading the state from memory (ours: cdc.Reader, as Save uses it). "+
		"Peers: Min %d KiB, Avg %d KiB, Max %d KiB (the FastCDC paper's ratios, their defaults); ours: DefaultParams (Min 32 KiB, Avg 64 KiB, Max 256 KiB). "+
		"Mean chunk: state bytes ÷ chunks.", chunkers.Min>>10, chunkers.Avg>>10, chunkers.Max>>10)
	if len(shifted) > 0 {
		fmt.Fprintf(b, " Bytes reused: the share of the changed state's bytes that lie in chunks of the unchanged state (what a deduplicating store does not store again), measured once (it does not vary between runs) on the first %s of the state, the size the shift-resistance requirement is stated for, after ",
			sizeName(shifted[0].shiftBytes))
		for i, c := range shifted {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(b, "%s: %s", c.data, c.shift.Change)
		}
		b.WriteString(".")
	}
	b.WriteString("\n\n")

	var trows [][]string
	for _, c := range res.chunkers {
		ours := c.stat(chunkers.OursName).Med
		if r := c.stat("restic").Med; r > 0 {
			v := ours / r
			trows = append(trows, check(fmt.Sprintf("(7) %s: continuity GB/s ÷ restic/chunker GB/s ≥ %.0f", c.data, targetVsResticChunker),
				v, v >= targetVsResticChunker))
		}
	}
	for _, c := range res.chunkers {
		ours := c.stat(chunkers.OursName).Med
		for _, fastCDC := range []bool{false, true} {
			name, v := c.fastestOther(res.impls, fastCDC)
			if name == "" {
				continue
			}
			what := "the fastest other Go CDC"
			if fastCDC {
				what = "the fastest other FastCDC implementation"
			}
			trows = append(trows, check(fmt.Sprintf("(8) %s: continuity GB/s ÷ %s (%s) GB/s ≥ %.0f", c.data, what, name, targetVsFastestChunker),
				ours/v, ours/v >= targetVsFastestChunker))
		}
	}
	for _, c := range shifted {
		v := c.reuse[chunkers.OursName]
		yes := "no"
		if c.meetsShift(chunkers.OursName) {
			yes = "yes"
		}
		trows = append(trows, []string{fmt.Sprintf("(9) %s: bytes continuity reuses after the changes (%s) ≥ %.0f%%",
			c.data, sizeName(c.shiftBytes), 100*c.shift.AtLeast), percent(v), yes})
	}
	benchkit.Table(b, []string{"chunker target", "measured", "met?"}, trows)
	b.WriteString("\n" + chunkerVerdict(res) + "\n")
}

// chunkerVerdict says which chunkers are faster than ours, whether they
// keep enough bytes after the changes, and so why we use our own.
func chunkerVerdict(res *results) string {
	var faster []string
	var fasterMeeting []string
	meetsAll := func(name string) bool {
		for _, c := range res.chunkers {
			if c.reuse != nil && !c.meetsShift(name) {
				return false
			}
		}
		return true
	}
	var notes []string
	for _, impl := range res.impls {
		if impl.Name == chunkers.OursName {
			continue
		}
		var speeds, reuses []string
		for _, c := range res.chunkers {
			if v, ours := c.stat(impl.Name).Med, c.stat(chunkers.OursName).Med; v > ours {
				speeds = append(speeds, fmt.Sprintf("%s (%s GB/s against %s)", c.data, benchkit.Sig3(v), benchkit.Sig3(ours)))
			}
			if c.reuse != nil {
				reuses = append(reuses, fmt.Sprintf("%s of the bytes of %s (requirement %.0f%%)", percent(c.reuse[impl.Name]), c.data, 100*c.shift.AtLeast))
			}
		}
		if len(speeds) == 0 {
			continue
		}
		faster = append(faster, impl.Name)
		meets := meetsAll(impl.Name)
		if meets {
			fasterMeeting = append(fasterMeeting, impl.Name)
		}
		note := fmt.Sprintf("%s is faster than ours on %s", impl.Name, strings.Join(speeds, " and "))
		if len(reuses) > 0 {
			verdict := "misses"
			if meets {
				verdict = "meets"
			}
			note += fmt.Sprintf(", and after the changes keeps %s: it %s the shift-resistance requirement", strings.Join(reuses, " and "), verdict)
		}
		notes = append(notes, note+".")
	}
	var why string
	switch {
	case !meetsAll(chunkers.OursName):
		why = "Our chunker misses the shift-resistance requirement in this run (9)."
	case len(faster) == 0:
		why = "Why our own chunker: it is the fastest of these and meets the shift-resistance requirement."
	case len(fasterMeeting) == 0:
		why = "Why our own chunker: it is the fastest of these that meets the shift-resistance requirement on every kind of data."
	default:
		verb, be := "meets", "is"
		if len(fasterMeeting) > 1 {
			verb, be = "meet", "are"
		}
		why = fmt.Sprintf("%s %s the shift-resistance requirement and %s faster than ours on some data.",
			strings.Join(fasterMeeting, " and "), verb, be)
	}
	return strings.TrimSpace(strings.Join(notes, " ") + " " + why)
}

// percent formats a share as a percentage with one decimal.
func percent(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) + "%" }
