package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// system describes the machine and disk a report was measured on. Every
// field is gathered best-effort: what cannot be read says "unknown".
type system struct {
	date       time.Time
	cpu        string
	cpus       int
	gomaxprocs int
	goVersion  string
	kernel     string
	fs         string // file system type, device, mount point and options
	disk       string // what the block device says about itself
	dir        string
	library    string // the continuity source measured: commit, and whether wal/, replication/ or internal/ had uncommitted changes
	loadStart  string
	loadEnd    string
}

func gatherSystem(dir string) system {
	s := system{
		date:       time.Now().UTC(),
		cpu:        cpuModel(),
		cpus:       runtime.NumCPU(),
		gomaxprocs: runtime.GOMAXPROCS(0),
		goVersion:  fmt.Sprintf("%s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH),
		kernel:     kernel(),
		dir:        dir,
		loadStart:  loadAverage(),
		library:    libraryVersion(),
	}
	s.fs, s.disk = fileSystem(dir)
	return s
}

func readTrim(name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown (" + runtime.GOARCH + ")"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown (" + runtime.GOARCH + ")"
}

func kernel() string {
	name, rel := readTrim("/proc/sys/kernel/ostype"), readTrim("/proc/sys/kernel/osrelease")
	if rel == "" {
		return "unknown (" + runtime.GOOS + ")"
	}
	return strings.TrimSpace(name + " " + rel)
}

// loadAverage returns the 1-, 5- and 15-minute load averages: other work
// on the machine shows up here.
func loadAverage() string {
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
// from: the module's directory (through the replace directive), its git
// commit, and whether wal/, replication/ or internal/ differ from it. It
// needs the go and git commands and the bench module as the working
// directory; otherwise it says "unknown".
func libraryVersion() string {
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
	if st, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--", "wal", "replication", "internal").Output(); err == nil && len(st) > 0 {
		v += ", with uncommitted changes in wal/, replication/ or internal/"
	}
	return v
}
