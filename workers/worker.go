package workers

import (
	"errors"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/switchboard-cc/switchboard/workflows"
)

// WorkerConfig tunes the Temporal worker.
type WorkerConfig struct {
	TaskQueue string
	// WorkflowPollers is the number of workflow task pollers. The SDK default of 2
	// gives a p99 turn latency of seconds under load; 8 brings it to a few hundred ms.
	WorkflowPollers int
	// MaxConcurrentTurns bounds workflow tasks and local activities in progress.
	MaxConcurrentTurns int
	// Identity names this worker to Temporal (shown in the UI, checked by /readyz).
	Identity string
	// CachedConversations bounds the workflows kept in the worker's sticky cache. An
	// idle conversation costs a goroutine and its state while cached; one evicted is
	// replayed from its (short, thanks to continue-as-new) history at its next turn.
	// The cache is process-wide and sized when the process's first worker starts:
	// an embedded Temporal server, whose system workers start first, must be
	// preceded by worker.SetStickyWorkflowCacheSize.
	CachedConversations int
}

// Validate fills defaults and reports the first bad field.
func (c *WorkerConfig) Validate() error {
	if c.TaskQueue == "" {
		return errors.New("worker: TaskQueue is required")
	}
	if c.WorkflowPollers == 0 {
		c.WorkflowPollers = 8
	}
	if c.MaxConcurrentTurns == 0 {
		c.MaxConcurrentTurns = 256
	}
	if c.CachedConversations == 0 {
		c.CachedConversations = DefaultCachedConversations
	}
	if c.WorkflowPollers < 1 || c.MaxConcurrentTurns < c.WorkflowPollers {
		return errors.New("worker: need 1 <= WorkflowPollers <= MaxConcurrentTurns")
	}
	return nil
}

// DefaultCachedConversations is the default of WorkerConfig.CachedConversations.
const DefaultCachedConversations = 1000

// NewWorker builds the Temporal worker that runs conversation workflows and their
// activities. Start it with Start, stop it with Stop.
func NewWorker(c client.Client, cfg WorkerConfig, acts *Activities) (worker.Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	worker.SetStickyWorkflowCacheSize(cfg.CachedConversations)
	w := worker.New(c, cfg.TaskQueue, worker.Options{
		MaxConcurrentWorkflowTaskPollers:        cfg.WorkflowPollers,
		MaxConcurrentWorkflowTaskExecutionSize:  cfg.MaxConcurrentTurns,
		MaxConcurrentLocalActivityExecutionSize: cfg.MaxConcurrentTurns,
		Identity:                                cfg.Identity,
	})
	w.RegisterWorkflowWithOptions(workflows.ConversationWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
	acts.Register(w)
	registerCanary(w, acts.Canary)
	return w, nil
}
