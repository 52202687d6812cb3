package benchkit

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// System describes the machine and disk a report was measured on. Every
// field is gathered best-effort: what cannot be read says "unknown".
type System struct {
	Date       time.Time
	CPU        string   // model, with the instruction set extensions of CPUFeatures it has
	CPUFlags   []string // which of CPUFeatures the CPU has
	CPUs       int
	GOMAXPROCS int
	Go         string
	Kernel     string
	FS         string // file system type, device, mount point and options
	Disk       string // what the block device says about itself
	Dir        string
	Library    string // the continuity source measured: commit, and whether the measured packages had uncommitted changes
	Memory     string
	LoadStart  string
	LoadEnd    string // set by the caller at the end: LoadAverage()
}

// Facts are the rows every report's machine table starts with: CPU,
// memory, Go, the continuity source measured, kernel, file system, disk.
func (s System) Facts() [][]string {
	return [][]string{
		{"CPU", fmt.Sprintf("%s, %d logical CPUs, GOMAXPROCS %d", s.CPU, s.CPUs, s.GOMAXPROCS)},
		{"Memory", s.Memory},
		{"Go", s.Go},
		{"continuity", s.Library},
		{"Kernel", s.Kernel},
		{"File system", s.FS},
		{"Disk", s.Disk},
	}
}

// Load is the row of the load average at the start and at the end.
func (s System) Load() []string {
	end := s.LoadEnd
	if end == "" {
		end = "—"
	}
	return []string{"Load average (1, 5, 15 min)", fmt.Sprintf("%s at start, %s at end", s.LoadStart, end)}
}

// Gather describes this machine and the file system holding dir. pkgs are
// the library's directories (e.g. "wal", "internal") whose uncommitted
// changes the Library field must flag.
func Gather(dir string, pkgs ...string) System {
	s := System{
		Date:       time.Now().UTC(),
		Memory:     memTotal(),
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Go:         fmt.Sprintf("%s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH),
		Kernel:     kernel(),
		Dir:        dir,
		LoadStart:  LoadAverage(),
		Library:    libraryVersion(pkgs),
	}
	s.CPU, s.CPUFlags = cpuModel()
	s.FS, s.Disk = fileSystem(dir)
	return s
}

// FileSystem describes the file system holding dir, as System.FS does.
func FileSystem(dir string) string {
	fs, _ := fileSystem(dir)
	return fs
}

func readTrim(name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// CPUFeatures are the instruction set extensions that decide the speed
// of the per-chunk work: SHA-NI (SHA-256, restic's chunk IDs), AES-NI and
// VAES with carry-less multiplication (AES-GCM), AVX2 and AVX-512
// (BLAKE3, memmove).
var CPUFeatures = []string{"sha_ni", "aes", "vaes", "pclmulqdq", "vpclmulqdq", "avx2", "avx512f"}

// cpuModel returns the CPU's model name, followed by which of CPUFeatures
// it has, and those features.
func cpuModel() (string, []string) {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown (" + runtime.GOARCH + ")", nil
	}
	defer f.Close()
	model := "unknown (" + runtime.GOARCH + ")"
	var flags []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		switch strings.TrimSpace(k) {
		case "model name":
			model = strings.TrimSpace(v)
		case "flags":
			have := map[string]bool{}
			for _, f := range strings.Fields(v) {
				have[f] = true
			}
			for _, f := range CPUFeatures {
				if have[f] {
					flags = append(flags, f)
				}
			}
		}
		if ok && flags != nil && !strings.HasPrefix(model, "unknown") {
			break
		}
	}
	if len(flags) > 0 {
		model += " (" + strings.Join(flags, " ") + ")"
	}
	return model, flags
}

// memTotal returns the machine's memory from /proc/meminfo.
func memTotal() string {
	for line := range strings.SplitSeq(readTrim("/proc/meminfo"), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	return "unknown"
}

func kernel() string {
	name, rel := readTrim("/proc/sys/kernel/ostype"), readTrim("/proc/sys/kernel/osrelease")
	if rel == "" {
		return "unknown (" + runtime.GOOS + ")"
	}
	return strings.TrimSpace(name + " " + rel)
}

// LoadAverage returns the 1-, 5- and 15-minute load averages: other work
// on the machine shows up here.
func LoadAverage() string {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// fileSystem finds the mount that holds dir in /proc/self/mountinfo and
// describes it and its block device.
func fileSystem(dir string) (fs, disk string) {
	fs, disk = "unknown", "unknown"
	abs, err := filepath.Abs(dir)
	if err != nil {
		return
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	best := -1
	var devno string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		a, b := strings.Fields(pre), strings.Fields(post)
		if !ok || len(a) < 6 || len(b) < 2 {
			continue
		}
		mp := unescapeMount(a[4])
		if !within(abs, mp) || len(mp) <= best {
			continue
		}
		best = len(mp)
		devno = a[2]
		fs = fmt.Sprintf("%s on %s, mounted at %s (%s)", b[0], b[1], mp, a[5])
	}
	if devno != "" {
		disk = blockDevice(devno)
	}
	return fs, disk
}

func within(path, mount string) bool {
	return mount == "/" || path == mount || strings.HasPrefix(path, mount+"/")
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// blockDevice describes the device major:minor from sysfs: its name,
// model if it has one, whether it is rotational and its scheduler.
func blockDevice(devno string) string {
	base := filepath.Join("/sys/dev/block", devno)
	name := filepath.Base(readLink(base))
	if name == "." || name == "" {
		return "unknown (" + devno + ")"
	}
	queue := filepath.Join(base, "queue")
	if _, err := os.Stat(filepath.Join(base, "partition")); err == nil {
		queue = filepath.Join(base, "..", "queue") // a partition: ask its disk
	}
	parts := []string{name}
	if m := readTrim(filepath.Join(base, "device", "model")); m != "" {
		parts = append(parts, "model "+m)
	}
	switch readTrim(filepath.Join(queue, "rotational")) {
	case "0":
		parts = append(parts, "non-rotational")
	case "1":
		parts = append(parts, "rotational")
	}
	if s := readTrim(filepath.Join(queue, "scheduler")); s != "" {
		parts = append(parts, "scheduler "+s)
	}
	return strings.Join(parts, ", ")
}

func readLink(name string) string {
	s, err := os.Readlink(name)
	if err != nil {
		return ""
	}
	return s
}

// libraryVersion says which continuity source the program was built
// from: the commit go build stamped into the binary (the repository holds
// the library and the bench module), or, for a binary without it (go run,
// go test), the commit of the module's directory (through the replace
// directive) and whether pkgs differ from it now. The latter needs the
// go and git commands and the bench module as the working directory;
// otherwise it says "unknown".
func libraryVersion(pkgs []string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v, ok := vcsVersion(bi.Settings); ok {
			return v
		}
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/continuity-go/continuity").Output()
	if err != nil {
		return "unknown"
	}
	dir := strings.TrimSpace(string(out))
	head, err := exec.Command("git", "-C", dir, "log", "-1", "--format=%h %cs").Output()
	if err != nil {
		return "unknown (" + dir + " is not a git work tree)"
	}
	v := "commit " + strings.TrimSpace(string(head))
	if len(pkgs) == 0 {
		return v
	}
	args := append([]string{"-C", dir, "status", "--porcelain", "--"}, pkgs...)
	if st, err := exec.Command("git", args...).Output(); err == nil && len(st) > 0 {
		v += ", with uncommitted changes in " + strings.Join(pkgs, "/, ") + "/"
	}
	return v
}

// vcsVersion formats the commit go build stamped (vcs.revision, vcs.time,
// vcs.modified), if it did: a run that outlives edits to the tree still
// names the source it measured.
func vcsVersion(settings []debug.BuildSetting) (string, bool) {
	var rev, at string
	modified := false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return "", false
	}
	v := "commit " + rev[:min(7, len(rev))]
	if t, err := time.Parse(time.RFC3339, at); err == nil {
		v += " " + t.UTC().Format(time.DateOnly)
	}
	if modified {
		v += ", built with uncommitted changes in the repository"
	}
	return v, true
}
