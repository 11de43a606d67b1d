package turn

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDurationsInJSON_AreDurationStrings_AndTheNanosecondsRecordedBeforeStillRead(t *testing.T) {
	e := Escalation{ID: "c/esc-1", Queues: []Queue{{Name: "tier1", AckSLA: 30 * time.Second}}}
	o := Outcome{TurnID: "t1", NLUDuration: 12500 * time.Microsecond, CPaaSDuration: 3 * time.Millisecond, Status: StatusReplied}
	b, err := json.Marshal(struct {
		E Escalation `json:"e"`
		O Outcome    `json:"o"`
	}{e, o})
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"ack_sla":"30s"`, `"nlu_duration":"12.5ms"`, `"cpaas_duration":"3ms"`, `"turn_id":"t1"`, `"status":"replied"`} {
		if !strings.Contains(s, want) {
			t.Errorf("%s lacks %s", s, want)
		}
	}
	if strings.Contains(s, "_ns") || strings.Contains(s, "30000000000") {
		t.Errorf("nanoseconds in %s", s)
	}

	var back struct {
		E Escalation `json:"e"`
		O Outcome    `json:"o"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.E.Queues[0] != e.Queues[0] || !reflect.DeepEqual(back.O, o) {
		t.Fatalf("round trip: %+v %+v", back.E.Queues, back.O)
	}

	// What histories, carried state and the escalations stream hold from before.
	old := `{"e":{"id":"c/esc-1","queues":[{"name":"tier1","ack_sla":30000000000}]},"o":{"turn_id":"t1","status":"replied","nlu_duration_ns":12500000,"cpaas_duration_ns":3000000}}`
	back.E, back.O = Escalation{}, Outcome{}
	if err := json.Unmarshal([]byte(old), &back); err != nil {
		t.Fatal(err)
	}
	if back.E.Queues[0].AckSLA != 30*time.Second || back.O.NLUDuration != o.NLUDuration || back.O.CPaaSDuration != o.CPaaSDuration {
		t.Fatalf("old form: %+v %+v", back.E.Queues, back.O)
	}
}
