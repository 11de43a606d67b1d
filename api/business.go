package api

import (
	"fmt"
	"net/http"

	"github.com/switchboard-cc/switchboard/internal/turn"
)

// knownBusiness refuses a turn whose business address (its To) no business of the
// routing policy owns, and reports whether the turn may go on. Such a turn could
// never be answered: a reply leaves only from a business's own address, so the turn
// would end "stuck: unanswered" and no replay could mend it. It is refused at the
// door instead, with a 400 that names the field and the address. Twilio and Vonage do not store
// such a message for us: the refusal shows in their consoles (Twilio's debugger,
// error 11200), in the log at error level and in
// switchboard_turns_received_total{result="unknown_business"}, which is how an
// operator learns that a number points at Switchboard without being in the policy.
//
// Without a policy (none configured) every address is taken.
func (s *Server) knownBusiness(w http.ResponseWriter, r *http.Request, t turn.Turn) bool {
	if s.cfg.Policy == nil {
		return true
	}
	p := s.cfg.Policy.Current()
	if p == nil || p.BusinessByAddress(t.To) != nil {
		return true
	}
	s.cfg.Metrics.TurnsReceived.WithLabelValues(t.Vendor, "unknown_business").Inc()
	s.log.Error("turn refused: its business address is no business's in the routing policy; add it to a business's addresses",
		"vendor", t.Vendor, "channel", t.Channel, "business_address", t.To, "turn", t.ID, "remote", r.RemoteAddr)
	writeError(w, http.StatusBadRequest, fmt.Sprintf("to must be an address of a business in the routing policy, and %s is none's: replies leave only from a business's own addresses; add it to a business's addresses in the policy", t.To))
	return false
}
