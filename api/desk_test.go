package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchboard-cc/switchboard/workflows"
)

func TestDeskUpdateID_ARetriedCallIsTheSameUpdate(t *testing.T) {
	b := deskBody{EscalationID: "conv-1/esc-1", Agent: "ann", Text: "Hi"}
	id := func(update, key string) (string, int) {
		r := httptest.NewRequest(http.MethodPost, "/v1/conversations/conv-1/escalation/reply", nil)
		if key != "" {
			r.Header.Set("Idempotency-Key", key)
		}
		w := httptest.NewRecorder()
		got, _ := deskUpdateID(w, r, update, b)
		return got, w.Code
	}
	first, _ := id(workflows.UpdateReply, "req-7")
	retry, _ := id(workflows.UpdateReply, "req-7")
	other, _ := id(workflows.UpdateReply, "req-8")
	if first == "" || first != retry || first == other {
		t.Errorf("reply update ids %q, %q (retry), %q (other): a retry must reuse the id, another call must not", first, retry, other)
	}
	if ack, _ := id(workflows.UpdateAck, "req-7"); ack == first {
		t.Errorf("ack and reply under one Idempotency-Key share the update id %q", ack)
	}
	if plain, _ := id(workflows.UpdateReply, ""); plain != "" {
		t.Errorf("a reply without Idempotency-Key is a new message, got update id %q", plain)
	}
	if ack1, _ := id(workflows.UpdateAck, ""); ack1 != "" {
		t.Errorf("an ack without Idempotency-Key is a new update (judged against the escalation as it is then), got update id %q", ack1)
	}
	long := make([]byte, 201)
	for i := range long {
		long[i] = 'k'
	}
	if _, code := id(workflows.UpdateReply, string(long)); code != http.StatusBadRequest {
		t.Errorf("an Idempotency-Key over 200 characters: %d, want 400", code)
	}
}
