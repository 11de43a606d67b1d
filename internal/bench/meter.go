package bench

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// meter measures the CPU a phase cost this process, and how busy the rest of the
// machine was meanwhile: on a shared machine, other processes' load moves every
// latency figure, and the report says how much of it there was.
type meter struct {
	wall    time.Time
	cpu     time.Duration
	machine time.Duration // busy CPU time of the whole machine; 0 if unknown
}

func startMeter() meter {
	return meter{wall: time.Now(), cpu: cpuTime(), machine: machineBusy()}
}

// Usage is what a meter measured.
type Usage struct {
	CPU time.Duration // this process's CPU time
	// OtherCores is the average number of cores other processes kept busy; negative
	// when unknown.
	OtherCores float64
}

func (m meter) stop() Usage {
	u := Usage{CPU: cpuTime() - m.cpu, OtherCores: -1}
	wall := time.Since(m.wall)
	if m.machine > 0 && wall > 0 {
		if busy := machineBusy(); busy > 0 {
			u.OtherCores = max(float64(busy-m.machine-u.CPU)/float64(wall), 0)
		}
	}
	return u
}

// machineBusy is the CPU time all processes used since boot, from /proc/stat (in
// USER_HZ ticks, taken as 100 per second); 0 where there is no /proc/stat.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, f := range fields[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already counted in user time
			break
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0
		}
		busy += n
	}
	return time.Duration(busy) * (time.Second / 100)
}

// loadAverage is the 1-minute load average, or "" where unknown.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
