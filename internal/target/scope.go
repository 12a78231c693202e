package target

import "github.com/herald-alerts/herald/internal/netguard"

// NamespaceLabel is the alert label a namespace-scoped target is matched
// against.
const NamespaceLabel = "namespace"

// Scope limits a target that a tenant defined rather than the operator (a
// target from a Kubernetes Secret). The zero Scope is the operator's own
// target (the targets file): every alert its filter matches, any address.
type Scope struct {
	// Tenant is set for a target the operator did not write: its
	// connections are checked against Dial, and its error excerpts are
	// shown to admins only.
	Tenant bool
	// Namespace, when set, is the only value of the alert's namespace
	// label the target receives (the namespace of its Secret), whatever
	// its filter says.
	Namespace string
	// Dial checks every address the target's deliveries and health probes
	// connect to; nil leaves them unchecked.
	Dial *netguard.Policy
}

// Accepts reports whether the alert with these labels goes to t: its
// filter matches, and for a namespace-scoped target the alert's namespace
// label is that namespace (an alert without one matches no such target).
func (t Target) Accepts(labels map[string]string) bool {
	if ns := t.Scope.Namespace; ns != "" && labels[NamespaceLabel] != ns {
		return false
	}
	return t.Filter.Matches(labels)
}

// FromTenant reports whether a tenant, not the operator, defined t.
func (t Target) FromTenant() bool { return t.Scope.Tenant }
