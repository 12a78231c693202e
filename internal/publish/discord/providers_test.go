package discord_test

// The target types this package's tests name are those of the one list.
import _ "github.com/herald-alerts/herald/internal/providers"
