package main

import (
	"os"
	"strconv"
	"strings"
)

// cpuTicks are the machine's CPU times since boot, summed over its CPUs,
// from /proc/stat: busy (user, nice, system, irq, softirq, steal) and
// total (busy, idle and iowait). Both are 0 where /proc/stat cannot be
// read. Kernel threads count here (the file systems' journal threads,
// block I/O completion), which the process's own CPU time leaves out.
func cpuTicks() (busy, total uint64) {
	line, _, _ := strings.Cut(readProcStat(), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	var v [8]uint64
	for i := range v {
		n, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return 0, 0
		}
		v[i] = n
	}
	user, nice, system, idle, iowait, irq, softirq, steal := v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
	busy = user + nice + system + irq + softirq + steal
	return busy, busy + idle + iowait
}

func readProcStat() string {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return ""
	}
	return string(b)
}
