package fake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/providers/fake"
)

func startDevAPI(t *testing.T) (*httptest.Server, *fake.Outbox, *fake.Faults) {
	t.Helper()
	outbox, faults := &fake.Outbox{}, &fake.Faults{}
	known := func(p string) bool { return p == "twilio" || p == "vonage" }
	srv := httptest.NewServer(fake.DevHandler(outbox, faults, known))
	t.Cleanup(srv.Close)
	return srv, outbox, faults
}

func devDo(t *testing.T, srv *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDevOutboxListsWhatWasSentAndFiltersByRecipient(t *testing.T) {
	srv, outbox, _ := startDevAPI(t)

	if status, body := devDo(t, srv, "GET", "/dev/outbox", ""); status != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("empty outbox: %d %s, want 200 []", status, body)
	}

	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	outbox.Add(fake.Sent{Vendor: "twilio", MessageID: "SM1", To: "+15550000001", Body: "a", At: at})
	outbox.Add(fake.Sent{Vendor: "vonage", MessageID: "m2", To: "+15550000002", Body: "b", At: at})
	outbox.Add(fake.Sent{Vendor: "vonage", MessageID: "m3", To: "+15550000001", Body: "c", At: at})

	_, body := devDo(t, srv, "GET", "/dev/outbox", "")
	var all []fake.Sent
	if err := json.Unmarshal([]byte(body), &all); err != nil || len(all) != 3 || all[0].MessageID != "SM1" {
		t.Fatalf("outbox = %s (%v)", body, err)
	}

	_, body = devDo(t, srv, "GET", "/dev/outbox?to=%2B15550000001", "")
	var some []fake.Sent
	if err := json.Unmarshal([]byte(body), &some); err != nil || len(some) != 2 ||
		some[0].MessageID != "SM1" || some[1].MessageID != "m3" {
		t.Fatalf("outbox to +15550000001 = %s (%v)", body, err)
	}
}

func TestDevFaultsSetsAFaultAndShowsItInForce(t *testing.T) {
	srv, _, faults := startDevAPI(t)

	if status, body := devDo(t, srv, "GET", "/dev/faults", ""); status != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("no faults: %d %s, want 200 []", status, body)
	}

	status, body := devDo(t, srv, "POST", "/dev/faults", `{"provider":"twilio","mode":"errors"}`)
	if status != 200 {
		t.Fatalf("POST: %d %s", status, body)
	}
	var f fake.Fault
	json.Unmarshal([]byte(body), &f)
	if f != (fake.Fault{Provider: "twilio", Mode: fake.ModeErrors, Rate: 1, Status: 503}) {
		t.Errorf("answer %+v, want the fault with its defaults", f)
	}
	if got := faults.List(); len(got) != 1 || got[0] != f {
		t.Errorf("faults in force = %+v", got)
	}

	_, body = devDo(t, srv, "GET", "/dev/faults", "")
	var list []fake.Fault
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) != 1 || list[0] != f {
		t.Errorf("GET /dev/faults = %s", body)
	}

	if status, body := devDo(t, srv, "POST", "/dev/faults", `{"provider":"twilio","mode":"ok"}`); status != 200 {
		t.Fatalf("clearing: %d %s", status, body)
	}
	if got := faults.List(); len(got) != 0 {
		t.Errorf("faults after mode ok = %+v, want none", got)
	}
}

func TestDevFaultsRefusesBadFaults(t *testing.T) {
	for _, c := range []struct {
		name, body string
		status     int
		mention    string
	}{
		{"unknown provider", `{"provider":"twillio","mode":"down"}`, 400, "twillio"},
		{"invalid mode", `{"provider":"twilio","mode":"flaky"}`, 400, "mode must be one of"},
		{"invalid rate", `{"provider":"vonage","mode":"errors","rate":2}`, 400, "rate must be between"},
		{"no provider", `{"mode":"down"}`, 400, "provider is required"},
		{"unknown field", `{"provider":"twilio","mode":"down","latency":5}`, 400, "latency"},
		{"two values", `{"provider":"twilio","mode":"down"}{}`, 400, "more than one"},
		{"not JSON", `mode=down`, 400, "invalid fault JSON"},
		{"too large", `{"provider":"twilio","mode":"down","x":"` + strings.Repeat("a", 1<<20) + `"}`, 413, "1 MiB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, _, faults := startDevAPI(t)
			status, body := devDo(t, srv, "POST", "/dev/faults", c.body)
			if status != c.status || !strings.Contains(body, c.mention) {
				t.Errorf("answer %d %s, want %d mentioning %s", status, body, c.status, c.mention)
			}
			var e map[string]string
			if err := json.Unmarshal([]byte(body), &e); err != nil || e["error"] == "" {
				t.Errorf("error answer is not {\"error\": ...}: %s", body)
			}
			if got := faults.List(); len(got) != 0 {
				t.Errorf("a refused fault is in force: %+v", got)
			}
		})
	}
}

func TestDevAPIAcceptsAnyProviderWithoutAKnownList(t *testing.T) {
	srv := httptest.NewServer(fake.DevHandler(&fake.Outbox{}, &fake.Faults{}, nil))
	t.Cleanup(srv.Close)
	if status, body := devDo(t, srv, "POST", "/dev/faults", `{"provider":"anything","mode":"down"}`); status != 200 {
		t.Errorf("answer %d %s, want 200", status, body)
	}
}

func TestDevAPIRefusesOtherMethods(t *testing.T) {
	srv, _, _ := startDevAPI(t)
	if status, _ := devDo(t, srv, "DELETE", "/dev/outbox", ""); status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /dev/outbox = %d, want 405", status)
	}
}

// Issue 12, item 9: the dev canary added a reply to /dev/outbox every minute. Its
// replies are left out unless asked for with ?canary=1 (the Go Outbox still holds
// everything).
func TestDevOutbox_CanaryRepliesAreLeftOutUnlessAsked(t *testing.T) {
	srv, outbox, _ := startDevAPI(t)
	outbox.SetCanaryCustomers("+15559990000")
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	outbox.Add(fake.Sent{Vendor: "twilio", MessageID: "SM1", To: "+15550000001", Body: "a", At: at})
	outbox.Add(fake.Sent{Vendor: "twilio", MessageID: "SM2", To: "+15559990000", Body: "canary", At: at})
	outbox.Add(fake.Sent{Vendor: "vonage", MessageID: "m3", To: "15559990000", Body: "canary", At: at}) // Vonage: no +

	ids := func(path string) []string {
		t.Helper()
		status, body := devDo(t, srv, "GET", path, "")
		var got []fake.Sent
		if err := json.Unmarshal([]byte(body), &got); status != 200 || err != nil {
			t.Fatalf("%s: %d %s (%v)", path, status, body, err)
		}
		out := []string{}
		for _, s := range got {
			if s.Canary != (s.To != "+15550000001") {
				t.Errorf("%s: %s is marked canary=%v", path, s.MessageID, s.Canary)
			}
			out = append(out, s.MessageID)
		}
		return out
	}
	if got := ids("/dev/outbox"); strings.Join(got, ",") != "SM1" {
		t.Errorf("/dev/outbox: %v, want only the customer's SM1", got)
	}
	if got := ids("/dev/outbox?to=%2B15559990000"); len(got) != 0 {
		t.Errorf("/dev/outbox?to=canary: %v, want none without canary=1", got)
	}
	if got := ids("/dev/outbox?canary=1"); strings.Join(got, ",") != "SM1,SM2,m3" {
		t.Errorf("/dev/outbox?canary=1: %v, want all three", got)
	}
	if got := ids("/dev/outbox?canary=1&to=%2B15559990000"); strings.Join(got, ",") != "SM2" {
		t.Errorf("/dev/outbox?canary=1&to=canary: %v, want SM2", got)
	}
	if n := len(outbox.List()); n != 3 {
		t.Errorf("the outbox holds %d, want 3", n)
	}
}
