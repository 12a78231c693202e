package alertflow

// SetSignalsPerRun changes how many notifications a run takes before it
// continues as new, until the returned restore is called.
func SetSignalsPerRun(n int) (restore func()) {
	old := signalsPerRun
	signalsPerRun = n
	return func() { signalsPerRun = old }
}
