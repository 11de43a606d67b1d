package fake_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchboard-cc/switchboard/providers/fake"
)

// probeGet makes one GET of srv+path, with basic auth when user is set, and decodes the
// JSON answer.
func probeGet(t *testing.T, srv *httptest.Server, path, user, pass string) (int, map[string]any, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: answer is not JSON: %v", path, err)
	}
	return resp.StatusCode, body, nil
}

const twAccountPath = "/2010-04-01/Accounts/" + twSID + ".json"

func TestTwilioFakeServesTheAccountResource(t *testing.T) {
	srv, outbox, _ := startTwilioFake(t)

	status, body, err := probeGet(t, srv, twAccountPath, twSID, twToken)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		t.Fatalf("status = %d, body %v", status, body)
	}
	for field, want := range map[string]any{
		"sid": twSID, "owner_account_sid": twSID, "status": "active", "type": "Full",
		"uri": twAccountPath,
	} {
		if body[field] != want {
			t.Errorf("%s = %v, want %v", field, body[field], want)
		}
	}
	for _, field := range []string{"friendly_name", "date_created", "date_updated", "subresource_uris"} {
		if body[field] == nil {
			t.Errorf("answer has no %s", field)
		}
	}
	if n := len(outbox.List()); n != 0 {
		t.Errorf("outbox has %d messages after an account fetch, want 0", n)
	}
}

func TestTwilioFakeAccountResourceChecksCredentialsAndAccount(t *testing.T) {
	srv, _, _ := startTwilioFake(t)
	for _, c := range []struct {
		name, path, user, pass string
		status                 int
		code                   float64
	}{
		{"no credentials", twAccountPath, "", "", http.StatusUnauthorized, 20003},
		{"wrong token", twAccountPath, twSID, "wrong", http.StatusUnauthorized, 20003},
		{"another account", "/2010-04-01/Accounts/AC22222222222222222222222222222222.json", twSID, twToken,
			http.StatusNotFound, 20404},
		{"no .json", "/2010-04-01/Accounts/" + twSID, twSID, twToken, http.StatusNotFound, 20404},
	} {
		status, body, err := probeGet(t, srv, c.path, c.user, c.pass)
		if err != nil {
			t.Fatal(err)
		}
		if status != c.status || body["code"] != c.code {
			t.Errorf("%s: status %d code %v, want %d and %v", c.name, status, body["code"], c.status, c.code)
		}
		if body["auth_token"] != nil {
			t.Errorf("%s: a refused fetch answered the auth token", c.name)
		}
	}
}

func TestTwilioFakeAccountResourceObeysFaults(t *testing.T) {
	srv, _, faults := startTwilioFake(t)

	faults.Set(fake.Fault{Provider: "twilio", Mode: fake.ModeDown})
	if _, _, err := probeGet(t, srv, twAccountPath, twSID, twToken); err == nil {
		t.Fatal("fetch succeeded with the fake down")
	}

	faults.Set(fake.Fault{Provider: "twilio", Mode: fake.ModeErrors, Status: 503})
	status, body, err := probeGet(t, srv, twAccountPath, twSID, twToken)
	if err != nil || status != 503 || body["code"] != float64(20503) {
		t.Fatalf("with errors 503: status %d body %v err %v", status, body, err)
	}

	faults.Set(fake.Fault{Provider: "twilio", Mode: fake.ModeOK})
	if status, _, err := probeGet(t, srv, twAccountPath, twSID, twToken); err != nil || status != http.StatusOK {
		t.Fatalf("with the fake back: status %d err %v", status, err)
	}
}

func TestVonageFakeServesTheBalance(t *testing.T) {
	srv, outbox, _ := startVonageFake(t)

	status, body, err := probeGet(t, srv, "/account/get-balance", vgKey, vgSecret)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK || body["value"] != 10.5 || body["autoReload"] != false {
		t.Fatalf("status %d body %v, want 200 {value 10.5, autoReload false}", status, body)
	}
	// Vonage also takes the credentials as query parameters.
	status, _, err = probeGet(t, srv, "/account/get-balance?api_key="+vgKey+"&api_secret="+vgSecret, "", "")
	if err != nil || status != http.StatusOK {
		t.Fatalf("with query credentials: status %d err %v", status, err)
	}
	if n := len(outbox.List()); n != 0 {
		t.Errorf("outbox has %d messages after balance reads, want 0", n)
	}
}

func TestVonageFakeBalanceChecksCredentials(t *testing.T) {
	srv, _, _ := startVonageFake(t)
	for _, c := range []struct{ name, path, user, pass string }{
		{"no credentials", "/account/get-balance", "", ""},
		{"wrong secret", "/account/get-balance", vgKey, "wrong"},
		{"wrong query secret", "/account/get-balance?api_key=" + vgKey + "&api_secret=wrong", "", ""},
	} {
		status, body, err := probeGet(t, srv, c.path, c.user, c.pass)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusUnauthorized || body["title"] == nil {
			t.Errorf("%s: status %d body %v, want 401 with a problem", c.name, status, body)
		}
	}
}

func TestVonageFakeBalanceObeysFaults(t *testing.T) {
	srv, _, faults := startVonageFake(t)

	faults.Set(fake.Fault{Provider: "vonage", Mode: fake.ModeDown})
	if _, _, err := probeGet(t, srv, "/account/get-balance", vgKey, vgSecret); err == nil {
		t.Fatal("balance read succeeded with the fake down")
	}

	faults.Set(fake.Fault{Provider: "vonage", Mode: fake.ModeErrors, Status: 429})
	status, body, err := probeGet(t, srv, "/account/get-balance", vgKey, vgSecret)
	if err != nil || status != 429 || body["title"] == nil {
		t.Fatalf("with errors 429: status %d body %v err %v", status, body, err)
	}

	faults.Set(fake.Fault{Provider: "vonage", Mode: fake.ModeOK})
	if status, _, err := probeGet(t, srv, "/account/get-balance", vgKey, vgSecret); err != nil || status != http.StatusOK {
		t.Fatalf("with the fake back: status %d err %v", status, err)
	}
}
