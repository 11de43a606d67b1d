package drill

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Report is a drill's outcome: the verdict and the figures. It is written as
// report.json (for CI) and report.html (for a person), next to history.json, the
// record the verdict was decided from.
type Report struct {
	Scenario    string    `json:"scenario"`
	Description string    `json:"description,omitempty"`
	File        string    `json:"file,omitempty"`
	Started     time.Time `json:"started"`
	Target      string    `json:"target"`
	// Settled says whether every turn owed an answer had one before the scenario's
	// settle time ran out.
	Settled bool     `json:"settled"`
	Verdict Verdict  `json:"verdict"`
	Figures Figures  `json:"figures"`
	Notes   []string `json:"notes,omitempty"`

	// Files are where the report was written.
	Files ReportFiles `json:"-"`
}

// ReportFiles are the files a drill writes.
type ReportFiles struct {
	HTML, JSON, History string
}

// Files names a scenario's report files in dir.
func Files(dir, scenario string) ReportFiles {
	return ReportFiles{
		HTML:    filepath.Join(dir, scenario+".html"),
		JSON:    filepath.Join(dir, scenario+".json"),
		History: filepath.Join(dir, scenario+".history.json"),
	}
}

func (r *Report) write(dir string, h *History) error {
	r.Files = Files(dir, r.Scenario)
	if err := writeJSON(r.Files.History, h); err != nil {
		return err
	}
	if err := writeJSON(r.Files.JSON, r); err != nil {
		return err
	}
	var b bytes.Buffer
	if err := renderHTML(&b, r); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return os.WriteFile(r.Files.HTML, b.Bytes(), 0o644)
}

func writeJSON(file string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(b, '\n'), 0o644)
}

// ReadHistory reads a history.json a drill wrote, to check it again.
func ReadHistory(file string) (*History, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var h History
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &h, nil
}
