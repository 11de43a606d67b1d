package conversations

// Setup of the namespace the store lives in: the search attributes that the
// workflows keep up to date and that the store's listings (and the UI's filters)
// query. `switchboard setup` runs it.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/switchboard-cc/switchboard/workflows"
)

// SearchAttributeConflictError reports a search attribute Switchboard needs that the
// namespace already has with another type, or that is one of Temporal's system
// attributes. Registration cannot fix it: the attribute must be removed by an
// operator, or Switchboard pointed at another namespace.
type SearchAttributeConflictError struct {
	Namespace string
	Name      string
	Have      enumspb.IndexedValueType
	Want      enumspb.IndexedValueType
	System    bool // Name is a system search attribute
}

func (e *SearchAttributeConflictError) Error() string {
	if e.System {
		return fmt.Sprintf("search attribute %s is a Temporal system attribute (type %v); Switchboard needs it as a custom %v attribute", e.Name, e.Have, e.Want)
	}
	return fmt.Sprintf("search attribute %s already exists on namespace %s with type %v, but Switchboard needs %v: remove it (temporal operator search-attribute remove --name %s --namespace %s) or use another namespace",
		e.Name, e.Namespace, e.Have, e.Want, e.Name, e.Namespace)
}

// RegisterSearchAttributes makes sure that namespace has every search attribute of
// want, with its type, through the operator service. It is idempotent: attributes
// that already exist with the wanted type are left alone, so it may run on every
// deploy, and two runs racing each other both succeed. An attribute that exists
// with another type is an error (a *SearchAttributeConflictError, joined with the
// others), and nothing is added then. It returns the names it added, sorted.
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string, want map[string]enumspb.IndexedValueType) ([]string, error) {
	if len(want) == 0 {
		return nil, nil
	}
	resp, err := listSearchAttributes(ctx, c, namespace)
	if err != nil {
		return nil, err
	}
	missing, err := missingSearchAttributes(resp, namespace, want)
	if err != nil {
		return nil, err
	}
	if len(missing) == 0 {
		return nil, nil
	}
	_, addErr := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	// Whether or not the call succeeded (another setup may have won a race, and on
	// SQL visibility the server skips an existing name without checking its type),
	// the namespace's own answer decides.
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		resp, err := listSearchAttributes(ctx, c, namespace)
		if err != nil {
			return nil, err
		}
		still, err := missingSearchAttributes(resp, namespace, want)
		if err != nil {
			return nil, err
		}
		if len(still) == 0 {
			return sortedNames(missing), nil
		}
		if addErr != nil {
			return nil, addSearchAttributesError(addErr, namespace, missing)
		}
		// Added, but not listed yet: the server answers from a cache.
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("search attributes %s added to namespace %s but not listed yet: %w", strings.Join(sortedNames(still), ", "), namespace, ctx.Err())
		case <-time.After(delay):
		}
	}
}

func listSearchAttributes(ctx context.Context, c client.Client, namespace string) (*operatorservice.ListSearchAttributesResponse, error) {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("list the search attributes of namespace %s: %w", namespace, err)
	}
	return resp, nil
}

// missingSearchAttributes returns the attributes of want that resp lacks, or the
// conflicts.
func missingSearchAttributes(resp *operatorservice.ListSearchAttributesResponse, namespace string, want map[string]enumspb.IndexedValueType) (map[string]enumspb.IndexedValueType, error) {
	missing := map[string]enumspb.IndexedValueType{}
	var conflicts []error
	for _, name := range sortedNames(want) {
		typ := want[name]
		if have, ok := resp.GetSystemAttributes()[name]; ok {
			conflicts = append(conflicts, &SearchAttributeConflictError{Namespace: namespace, Name: name, Have: have, Want: typ, System: true})
			continue
		}
		have, ok := resp.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = typ
		case have != typ:
			conflicts = append(conflicts, &SearchAttributeConflictError{Namespace: namespace, Name: name, Have: have, Want: typ})
		}
	}
	if len(conflicts) > 0 {
		return nil, errors.Join(conflicts...)
	}
	return missing, nil
}

// addSearchAttributesError explains a refused AddSearchAttributes.
func addSearchAttributesError(err error, namespace string, missing map[string]enumspb.IndexedValueType) error {
	var (
		denied        *serviceerror.PermissionDenied
		unimplemented *serviceerror.Unimplemented
	)
	if errors.As(err, &denied) || errors.As(err, &unimplemented) {
		// Temporal Cloud, for one, manages search attributes through its own API.
		return fmt.Errorf("Temporal refused to add search attributes to namespace %s (%w); add them another way (Temporal Cloud: tcld namespace search-attributes add, or the Cloud UI): %s",
			namespace, err, DescribeSearchAttributes(missing))
	}
	return fmt.Errorf("add search attributes %s to namespace %s: %w", strings.Join(sortedNames(missing), ", "), namespace, err)
}

// DescribeSearchAttributes lists attributes as "Name=Type, ...", sorted by name.
func DescribeSearchAttributes(m map[string]enumspb.IndexedValueType) string {
	parts := make([]string, 0, len(m))
	for _, name := range sortedNames(m) {
		parts = append(parts, name+"="+m[name].String())
	}
	return strings.Join(parts, ", ")
}

func sortedNames(m map[string]enumspb.IndexedValueType) []string {
	return slices.Sorted(maps.Keys(m))
}

// SetupOptions configure Setup.
type SetupOptions struct {
	// SearchAttributes to register. Default: workflows.SearchAttributes().
	SearchAttributes map[string]enumspb.IndexedValueType
	// Wait keeps trying for this long while Temporal does not answer or the namespace
	// does not exist yet (a compose or Kubernetes job started alongside Temporal).
	// Zero: one attempt.
	Wait time.Duration
	// Settle is how long Setup waits after adding attributes, so that every Temporal
	// service has reloaded the namespace (system.namespaceCacheRefreshInterval, 2 s by
	// default) before a worker uses them. A turn started before a frontend knows an
	// attribute is refused as invalid, which dead-letters it.
	Settle time.Duration
	// AttemptTimeout bounds one attempt. Default 30 s.
	AttemptTimeout time.Duration
}

// Setup prepares the Temporal namespace for Switchboard: it registers the search
// attributes (see RegisterSearchAttributes), dialing Temporal with topts (the
// service's own client options: address, namespace, TLS and API key). It returns
// the names it added.
func Setup(ctx context.Context, topts client.Options, o SetupOptions, log *slog.Logger) ([]string, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if topts.HostPort == "" {
		return nil, errors.New("TemporalAddr (--temporal-address) is required")
	}
	if topts.Namespace == "" {
		topts.Namespace = "default"
	}
	if o.SearchAttributes == nil {
		o.SearchAttributes = workflows.SearchAttributes()
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 30 * time.Second
	}
	deadline := time.Now().Add(o.Wait)
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		added, err := setupOnce(ctx, topts, o)
		if err == nil {
			if len(added) > 0 && o.Settle > 0 {
				log.Info("search attributes added; waiting for every Temporal service to reload the namespace", "added", strings.Join(added, ","), "settle", o.Settle)
				select {
				case <-ctx.Done():
					return added, ctx.Err()
				case <-time.After(o.Settle):
				}
			}
			return added, nil
		}
		if o.Wait <= 0 || ctx.Err() != nil || !retryableSetupError(err) {
			return nil, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("Temporal at %s not ready after waiting %v (%d attempts): %w", topts.HostPort, o.Wait, attempt, err)
		}
		log.Info("Temporal not ready yet; retrying", "address", topts.HostPort, "namespace", topts.Namespace, "attempt", attempt, "error", err)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(min(delay, left)):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func setupOnce(ctx context.Context, topts client.Options, o SetupOptions) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, o.AttemptTimeout)
	defer cancel()
	c, err := client.DialContext(ctx, topts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", topts.HostPort, err)
	}
	defer c.Close()
	if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: topts.Namespace}); err != nil {
		var nf *serviceerror.NamespaceNotFound
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("namespace %s does not exist on Temporal at %s (create it: temporal operator namespace create --namespace %s): %w", topts.Namespace, topts.HostPort, topts.Namespace, err)
		}
		return nil, fmt.Errorf("describe namespace %s: %w", topts.Namespace, err)
	}
	return RegisterSearchAttributes(ctx, c, topts.Namespace, o.SearchAttributes)
}

// retryableSetupError reports errors that waiting may cure: Temporal not answering
// (yet), or its namespace not created yet.
func retryableSetupError(err error) bool {
	var (
		unavailable *serviceerror.Unavailable
		deadline    *serviceerror.DeadlineExceeded
		exhausted   *serviceerror.ResourceExhausted
		nsNotFound  *serviceerror.NamespaceNotFound
	)
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &unavailable) || errors.As(err, &deadline) ||
		errors.As(err, &exhausted) || errors.As(err, &nsNotFound)
}
