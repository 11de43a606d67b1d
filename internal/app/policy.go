package app

import (
	"log/slog"
	"sync"

	"github.com/switchboard-cc/switchboard/providers/health"
	"github.com/switchboard-cc/switchboard/providers/routing"
)

// reloads applies a reloaded policy to what the process built from the first one.
type reloads struct {
	mu     sync.Mutex
	health health.Registry
	have   *ProviderSet
}

func (r *reloads) set(reg health.Registry, s *ProviderSet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.health, r.have = reg, s
}

func (r *reloads) changed(p *routing.Policy, file string, log *slog.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.health == nil {
		return // still starting: the registry is built from the newest policy
	}
	if err := r.health.Configure(breakerSettings(p)); err != nil {
		log.Error("routing policy reloaded, but its breaker settings were refused", "file", file, "error", err)
	}
	for _, name := range p.ProviderNames() {
		if r.have != nil && !r.have.Has(name) {
			log.Warn("routing policy names a provider this process has no client for; restart to add it", "provider", name)
		}
	}
	for _, w := range p.Warnings() {
		log.Warn("routing policy: "+w.Msg, "field", w.Path, "file", file)
	}
	log.Info("routing policy reloaded", "file", file)
}
